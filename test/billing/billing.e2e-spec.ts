import Stripe from "stripe";
import { LedgerService } from "../../src/billing/ledger.service.ts";
import { ledgerStream } from "../../src/billing/ledger.events.ts";
import { HoldExpiryProcess } from "../../src/billing/hold-expiry.process.ts";
import { ManualClock } from "../../src/common/clock.ts";
import { EVENT_STORE, type EventStore } from "../../src/event-store/event-store.port.ts";
import { createAccountWithKey, fundedAccount, grantUsd } from "../support/accounts.ts";
import { checkoutSessionCompleted } from "../support/stripe-events.ts";
import { api, startTestApp, TEST_ADMIN_KEY, type TestApp } from "../support/test-app.ts";
import { type FakeStripe, startFakeStripe } from "./support/fake-stripe.ts";

const WEBHOOK_SECRET = "whsec_test_0123456789abcdef";

describe("billing over HTTP", () => {
  let testApp: TestApp;
  let stripe: FakeStripe;
  let store: EventStore;
  let ledger: LedgerService;
  const clock = new ManualClock(new Date("2026-03-01T12:00:00.000Z"));

  beforeAll(async () => {
    stripe = await startFakeStripe();
    testApp = await startTestApp({
      clock,
      env: {
        STRIPE_SECRET_KEY: "sk_test_fake",
        STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
        STRIPE_API_BASE_URL: stripe.url,
        PUBLIC_BASE_URL: "https://gateway.example.test",
        RESERVATION_TTL_SECONDS: "60",
      },
    });
    store = testApp.app.get(EVENT_STORE);
    ledger = testApp.app.get(LedgerService);
  });

  afterAll(async () => {
    await testApp?.close();
    await stripe?.close();
  });

  async function ledgerEvents(accountId: string) {
    return await store.readStream(ledgerStream(accountId));
  }

  async function signedWebhook(payload: object, secret = WEBHOOK_SECRET) {
    const body = JSON.stringify(payload);
    const signature = Stripe.webhooks.generateTestHeaderString({ payload: body, secret });
    return await api(testApp.url, "POST", "/api/billing/stripe/webhook", {
      body,
      headers: { "stripe-signature": signature },
    });
  }

  it("grants credits as admin and shows the live balance on the admin account", async () => {
    const { accountId } = await createAccountWithKey(testApp.url, "grant@example.test");
    const granted = await grantUsd(testApp.url, accountId, 12.5, "welcome");
    expect(granted.status).toBe(201);
    expect(granted.body).toEqual({ balance_usd: 12.5, transaction_id: expect.any(String) });
    const correction = await grantUsd(testApp.url, accountId, -2.25, "correction");
    expect(correction.body.balance_usd).toBe(10.25);
    const account = await api(testApp.url, "GET", `/admin/accounts/${accountId}`, {
      token: TEST_ADMIN_KEY,
    });
    expect(account.body.balance_usd).toBe(10.25);
  });

  it("refuses a correction that would overdraw with 402 insufficient_credits", async () => {
    const { accountId } = await fundedAccount(testApp.url, "overdraw@example.test", 1);
    const refused = await grantUsd(testApp.url, accountId, -1.000001);
    expect(refused.status).toBe(402);
    expect(refused.body).toEqual({
      error: {
        message: expect.any(String),
        type: "insufficient_quota",
        param: null,
        code: "insufficient_credits",
      },
    });
    expect((await ledgerEvents(accountId)).length).toBe(1);
  });

  it("answers an unknown account and a non-admin caller in the error envelope", async () => {
    const missing = await grantUsd(testApp.url, "acct_missing", 1);
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe("account_not_found");
    const { accountId, key } = await createAccountWithKey(testApp.url, "notadmin@example.test");
    const denied = await api(testApp.url, "POST", `/admin/accounts/${accountId}/credits`, {
      token: key,
      body: { amount_usd: 5, reason: "x" },
    });
    expect(denied.status).toBeGreaterThanOrEqual(401);
    expect(denied.body.error).toBeDefined();
  });

  it("shows balance, available balance, transactions newest first and usage", async () => {
    const { accountId, key } = await fundedAccount(testApp.url, "queries@example.test", 1);
    await ledger.charge(accountId, {
      chargeId: "req_q1",
      amountMicros: 8_000,
      reference: "req_q1",
      model: "flux-schnell",
    });
    await ledger.charge(accountId, {
      chargeId: "req_q2",
      amountMicros: 10_000,
      reference: "req_q2",
      model: "qwen3-8b",
    });
    await ledger.charge(accountId, {
      chargeId: "req_q3",
      amountMicros: 8_000,
      reference: "req_q3",
      model: "flux-schnell",
    });
    await ledger.refund(accountId, { chargeId: "req_q3", reason: "upstream failed" });
    await ledger.reserve(accountId, {
      reservationId: "res_q",
      amountMicros: 300_000,
      reference: "job_q",
      model: "wan-t2v",
    });

    const balance = await api(testApp.url, "GET", "/api/billing/balance", { token: key });
    expect(balance.status).toBe(200);
    expect(balance.body).toMatchObject({
      balance_usd: 0.982,
      available_usd: 0.682,
      currency: "usd",
    });

    const first = await api(testApp.url, "GET", "/api/billing/transactions?limit=2", {
      token: key,
    });
    expect(first.status).toBe(200);
    expect(first.body.data.map((row: any) => [row.type, row.amount_usd, row.balance_after_usd]))
      .toEqual([
        ["refund", 0.008, 0.982],
        ["charge", -0.008, 0.974],
      ]);
    expect(first.body.data[1]).toMatchObject({
      reference: "req_q3",
      created_at: clock.now().toISOString(),
    });
    expect(first.body.has_more).toBe(true);
    const second = await api(
      testApp.url,
      "GET",
      `/api/billing/transactions?limit=10&cursor=${first.body.next_cursor}`,
      { token: key },
    );
    expect(second.body.data.map((row: any) => row.type)).toEqual(["charge", "charge", "grant"]);
    expect(second.body.has_more).toBe(false);

    const byModel = await api(testApp.url, "GET", "/api/billing/usage?group_by=model", {
      token: key,
    });
    expect(byModel.status).toBe(200);
    expect(byModel.body.data).toEqual([
      { model: "flux-schnell", requests: 2, refunds: 1, cost_usd: 0.008 },
      { model: "qwen3-8b", requests: 1, refunds: 0, cost_usd: 0.01 },
    ]);
    expect(byModel.body.total_cost_usd).toBe(0.018);
    const byDay = await api(
      testApp.url,
      "GET",
      "/api/billing/usage?group_by=day&from=2026-03-01T00:00:00Z&to=2026-03-02T00:00:00Z",
      { token: key },
    );
    expect(byDay.body.data).toEqual([{
      day: "2026-03-01",
      requests: 3,
      refunds: 1,
      cost_usd: 0.018,
    }]);
    const bad = await api(testApp.url, "GET", "/api/billing/usage?group_by=week", { token: key });
    expect(bad.status).toBe(400);
    expect(bad.body.error.param).toBe("group_by");
  });

  it("answers the balance at a past instant by replaying the ledger", async () => {
    const { accountId, key } = await fundedAccount(testApp.url, "history@example.test", 3);
    await ledger.charge(accountId, { chargeId: "h1", amountMicros: 250_000, reference: "h1" });
    const recordedAt = clock.now();
    const recorded = await api(testApp.url, "GET", "/api/billing/balance", { token: key });
    clock.advance(60_000);
    await ledger.charge(accountId, { chargeId: "h2", amountMicros: 1_000_000, reference: "h2" });
    await grantUsd(testApp.url, accountId, 7);
    const past = await api(
      testApp.url,
      "GET",
      `/api/billing/balance?at=${encodeURIComponent(recordedAt.toISOString())}`,
      { token: key },
    );
    expect(past.status).toBe(200);
    expect(past.body.balance_usd).toBe(recorded.body.balance_usd);
    expect(past.body.balance_usd).toBe(2.75);
    const now = await api(testApp.url, "GET", "/api/billing/balance", { token: key });
    expect(now.body.balance_usd).toBe(8.75);
  });

  it("creates a Stripe Checkout Session and returns its URL", async () => {
    const { accountId, key } = await createAccountWithKey(testApp.url, "checkout@example.test");
    const created = await api(testApp.url, "POST", "/api/billing/checkout", {
      token: key,
      body: { amount_usd: 10 },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      url: expect.stringMatching(/^https:\/\/checkout\.stripe\.test\//),
    });
    const request = stripe.sessionRequests.at(-1)!;
    expect(request.authorization).toBe("Bearer sk_test_fake");
    expect(request.fields.get("line_items[0][price_data][unit_amount]")).toBe("1000");
    expect(request.fields.get("client_reference_id")).toBe(accountId);
    // Back to the console's billing page, which says what happened.
    expect(request.fields.get("success_url")).toBe(
      "https://gateway.example.test/billing?checkout=success&session_id={CHECKOUT_SESSION_ID}",
    );
    expect(request.fields.get("cancel_url")).toBe(
      "https://gateway.example.test/billing?checkout=cancelled",
    );

    const tooSmall = await api(testApp.url, "POST", "/api/billing/checkout", {
      token: key,
      body: { amount_usd: 4.99 },
    });
    expect(tooSmall.status).toBe(400);
    expect(tooSmall.body.error.param).toBe("amount_usd");
  });

  it("credits a signed checkout.session.completed once, with the first-purchase bonus", async () => {
    const { accountId, key } = await createAccountWithKey(testApp.url, "webhook@example.test");
    const event = checkoutSessionCompleted("evt_1", "cs_paid_1", accountId, 1000);
    const delivered = await signedWebhook(event);
    expect(delivered.status).toBe(200);
    expect(delivered.body).toMatchObject({ received: true, result: "credited" });
    const balance = await api(testApp.url, "GET", "/api/billing/balance", { token: key });
    expect(balance.body.balance_usd).toBe(15);

    const replayed = await signedWebhook(event);
    expect(replayed.status).toBe(200);
    expect(replayed.body.result).toBe("duplicate");
    const otherEventSameSession = await signedWebhook({ ...event, id: "evt_2" });
    expect(otherEventSameSession.body.result).toBe("duplicate");
    expect((await ledgerEvents(accountId)).map((recorded) => recorded.type)).toEqual([
      "CreditsPurchased",
      "CreditsGranted",
    ]);

    const second = await signedWebhook(
      checkoutSessionCompleted("evt_3", "cs_paid_2", accountId, 500),
    );
    expect(second.body.result).toBe("credited");
    const after = await api(testApp.url, "GET", "/api/billing/transactions", { token: key });
    expect(after.body.data.map((row: any) => [row.type, row.amount_usd])).toEqual([
      ["purchase", 5],
      ["bonus", 5],
      ["purchase", 10],
    ]);
  });

  it("refuses a bad signature with 400 and appends nothing", async () => {
    const { accountId } = await createAccountWithKey(testApp.url, "forged@example.test");
    const head = await store.headPosition();
    const forged = await signedWebhook(
      checkoutSessionCompleted("evt_forged", "cs_forged", accountId, 100_000),
      "whsec_wrong",
    );
    expect(forged.status).toBe(400);
    expect(forged.body.error.code).toBe("invalid_signature");
    const unsigned = await api(testApp.url, "POST", "/api/billing/stripe/webhook", {
      body: checkoutSessionCompleted("evt_forged", "cs_forged", accountId, 100_000),
    });
    expect(unsigned.status).toBe(400);
    // The body must be the signed bytes exactly: re-serialising changes them.
    const body = JSON.stringify(checkoutSessionCompleted("evt_x", "cs_x", accountId, 100_000));
    const signature = Stripe.webhooks.generateTestHeaderString({
      payload: body,
      secret: WEBHOOK_SECRET,
    });
    const tampered = await api(testApp.url, "POST", "/api/billing/stripe/webhook", {
      body: body.replace("100000", "900000"),
      headers: { "stripe-signature": signature },
    });
    expect(tampered.status).toBe(400);
    expect(await store.headPosition()).toBe(head);
    expect(await ledgerEvents(accountId)).toEqual([]);
  });

  it("releases holds that pass their expiry", async () => {
    const { accountId, key } = await fundedAccount(testApp.url, "expiry@example.test", 1);
    await ledger.reserve(accountId, {
      reservationId: "res_exp",
      amountMicros: 400_000,
      reference: "job_exp",
    });
    const held = await api(testApp.url, "GET", "/api/billing/balance", { token: key });
    expect(held.body).toMatchObject({ balance_usd: 1, available_usd: 0.6 });
    // Earlier tests' holds may expire here; this one is not due yet.
    await testApp.app.get(HoldExpiryProcess).sweep();
    const stillHeld = await api(testApp.url, "GET", "/api/billing/balance", { token: key });
    expect(stillHeld.body.available_usd).toBe(0.6);
    clock.advance(61_000);
    expect(await testApp.app.get(HoldExpiryProcess).sweep()).toBeGreaterThanOrEqual(1);
    const released = await api(testApp.url, "GET", "/api/billing/balance", { token: key });
    expect(released.body).toMatchObject({ balance_usd: 1, available_usd: 1 });
    expect((await ledgerEvents(accountId)).at(-1)).toMatchObject({
      type: "ReservationReleased",
      data: { reservationId: "res_exp", reason: "expired" },
      metadata: { actor: "system:hold-expiry" },
    });
  });
});

describe("hold expiry after a restart", () => {
  it("releases holds that expired while the gateway was down", async () => {
    const clock = new ManualClock(new Date("2026-04-01T00:00:00.000Z"));
    const env = { RESERVATION_TTL_SECONDS: "30" };
    const first = await startTestApp({ clock, env });
    const { accountId, key } = await fundedAccount(first.url, "restart@example.test", 1);
    await first.app.get(LedgerService).reserve(accountId, {
      reservationId: "res_restart",
      amountMicros: 500_000,
      reference: "job_restart",
    });
    await first.close({ keepData: true });
    clock.advance(31_000);
    const second = await startTestApp({ clock, env, dataDir: first.dataDir });
    try {
      let available: number | undefined;
      for (let attempt = 0; attempt < 50 && available !== 1; attempt++) {
        const balance = await api(second.url, "GET", "/api/billing/balance", { token: key });
        available = balance.body.available_usd;
        if (available !== 1) await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(available).toBe(1);
    } finally {
      await second.close();
      const { rmSync } = await import("node:fs");
      rmSync(first.dataDir, { recursive: true, force: true });
    }
  });

  it("is swept by the first worker of a cluster only, so N workers do not sweep N times", async () => {
    const clock = new ManualClock(new Date("2026-04-02T00:00:00.000Z"));
    const env = { RESERVATION_TTL_SECONDS: "30", WORKERS: "2" };
    const first = await startTestApp({ clock, env: { ...env, WORKER_INDEX: "2" } });
    const { accountId, key } = await fundedAccount(first.url, "worker-sweeps@example.test", 1);
    await first.app.get(LedgerService).reserve(accountId, {
      reservationId: "res_workers",
      amountMicros: 500_000,
      reference: "job_workers",
    });
    await first.close({ keepData: true });
    clock.advance(31_000);
    const availableOn = async (url: string) =>
      (await api(url, "GET", "/api/billing/balance", { token: key })).body.available_usd;
    const second = await startTestApp({
      clock,
      env: { ...env, WORKER_INDEX: "2" },
      dataDir: first.dataDir,
    });
    try {
      // A first worker would have swept at start; the second worker leaves the hold open.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      expect(await availableOn(second.url)).toBe(0.5);
    } finally {
      await second.close({ keepData: true });
    }
    const firstWorker = await startTestApp({
      clock,
      env: { ...env, WORKER_INDEX: "1" },
      dataDir: first.dataDir,
    });
    try {
      let available: number | undefined;
      for (let attempt = 0; attempt < 50 && available !== 1; attempt++) {
        available = await availableOn(firstWorker.url);
        if (available !== 1) await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(available).toBe(1);
    } finally {
      await firstWorker.close();
      const { rmSync } = await import("node:fs");
      rmSync(first.dataDir, { recursive: true, force: true });
    }
  });
});
