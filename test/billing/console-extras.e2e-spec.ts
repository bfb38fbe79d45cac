import OpenAI from "openai";
import Stripe from "stripe";
import { LedgerService } from "../../src/billing/ledger.service.ts";
import { ManualClock } from "../../src/common/clock.ts";
import { EVENT_STORE, type EventStore } from "../../src/event-store/event-store.port.ts";
import { UsageRecorder } from "../../src/inference/usage-recorder.ts";
import { createAccountWithKey, grantUsd } from "../support/accounts.ts";
import { checkoutSessionCompleted } from "../support/stripe-events.ts";
import { api, startTestApp, type TestApp } from "../support/test-app.ts";
import { type LocalUpstream, startLocalUpstream } from "../support/upstreams/openai-upstream.ts";
import { type FakeStripe, startFakeStripe } from "./support/fake-stripe.ts";
import { appendLargeLedger } from "./support/large-ledger.ts";

const WEBHOOK_SECRET = "whsec_test_console_0123456789";

/** RFC 4180 parsing, written independently of the exporter, so quoting mistakes show. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = "";
  let quoted = false;
  for (let index = 0; index < text.length; index++) {
    const char = text[index];
    if (quoted) {
      if (char === '"' && text[index + 1] === '"') {
        cell += '"';
        index++;
      } else if (char === '"') quoted = false;
      else cell += char;
    } else if (char === '"') quoted = true;
    else if (char === ",") {
      row.push(cell);
      cell = "";
    } else if (char === "\r" && text[index + 1] === "\n") {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = "";
      index++;
    } else cell += char;
  }
  if (cell !== "" || row.length > 0) rows.push([...row, cell]);
  return rows;
}

async function download(url: string, path: string, token: string) {
  const response = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${token}` } });
  return { status: response.status, headers: response.headers, text: await response.text() };
}

describe("billing for the console: CSV, summary, checkout return pages", () => {
  let testApp: TestApp;
  let stripe: FakeStripe;
  let upstream: LocalUpstream;
  let ledger: LedgerService;
  const clock = new ManualClock(new Date("2026-03-15T12:00:00.000Z"));

  beforeAll(async () => {
    stripe = await startFakeStripe();
    upstream = await startLocalUpstream("ollama");
    // No PUBLIC_BASE_URL: links come from the request's own origin (an ephemeral port, not 3000).
    testApp = await startTestApp({
      clock,
      env: {
        STRIPE_SECRET_KEY: "sk_test_fake",
        STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
        STRIPE_API_BASE_URL: stripe.url,
        ALLOW_PRIVATE_UPSTREAMS: "true",
      },
    });
    ledger = testApp.app.get(LedgerService);
  });

  afterAll(async () => {
    await testApp?.close();
    await upstream?.close();
    await stripe?.close();
  });

  it("sends Stripe back to /billing on the origin the request came in at", async () => {
    const { key } = await createAccountWithKey(testApp.url, "return@example.test");
    const created = await api(testApp.url, "POST", "/api/billing/checkout", {
      token: key,
      body: { amount_usd: 5 },
    });
    expect(created.status).toBe(201);
    const fields = stripe.sessionRequests.at(-1)!.fields;
    expect(new URL(testApp.url).port).not.toBe("3000");
    expect(fields.get("success_url")).toBe(
      `${testApp.url}/billing?checkout=success&session_id={CHECKOUT_SESSION_ID}`,
    );
    expect(fields.get("cancel_url")).toBe(`${testApp.url}/billing?checkout=cancelled`);
  });

  it("exports transactions as a CSV attachment, quoted and safe from formula injection", async () => {
    const { accountId, key } = await createAccountWithKey(testApp.url, "csv@example.test");
    const hostile = '=HYPERLINK("http://evil.example","click"), then "more"\nline two';
    expect((await grantUsd(testApp.url, accountId, 3, hostile)).status).toBe(201);
    expect((await grantUsd(testApp.url, accountId, 2, "+1 plain, with comma")).status).toBe(201);
    await ledger.charge(accountId, {
      chargeId: "csv_c1",
      amountMicros: 8_000,
      reference: "@ref",
      model: "flux-schnell",
    });

    const csv = await download(testApp.url, "/api/billing/transactions?format=csv", key);
    expect(csv.status).toBe(200);
    expect(csv.headers.get("content-type")).toMatch(/^text\/csv/);
    expect(csv.headers.get("content-disposition")).toBe(
      'attachment; filename="transactions.csv"',
    );
    expect(csv.headers.get("x-export-truncated")).toBeNull();
    const rows = parseCsv(csv.text);
    expect(rows[0]).toEqual([
      "id",
      "created_at",
      "type",
      "amount_usd",
      "balance_after_usd",
      "model",
      "reference",
      "description",
    ]);
    const json = await api(testApp.url, "GET", "/api/billing/transactions?limit=100", {
      token: key,
    });
    expect(rows.slice(1).map((row) => row[0])).toEqual(
      json.body.data.map((row: { id: string }) => row.id),
    );
    expect(rows[1].slice(2, 7)).toEqual(["charge", "-0.008", "4.992", "flux-schnell", "'@ref"]);
    expect(rows[2][7]).toBe("'+1 plain, with comma");
    expect(rows[3][7]).toBe(`'${hostile}`);
    // Nothing in the file starts a cell with a formula character unescaped.
    for (const row of rows) {
      for (const cell of row) expect(/^[=+@]/.test(cell)).toBe(false);
    }
  });

  it("exports usage by model and by day as CSV", async () => {
    const { accountId, key } = await createAccountWithKey(testApp.url, "usage-csv@example.test");
    await grantUsd(testApp.url, accountId, 1, "trial");
    for (const [chargeId, model] of [["u1", "sdxl"], ["u2", "sdxl"], ["u3", "kokoro"]]) {
      await ledger.charge(accountId, { chargeId, amountMicros: 5_000, reference: chargeId, model });
    }
    const byModel = await download(testApp.url, "/api/billing/usage?format=csv", key);
    expect(byModel.status).toBe(200);
    expect(byModel.headers.get("content-disposition")).toBe(
      'attachment; filename="usage-by-model.csv"',
    );
    expect(parseCsv(byModel.text)).toEqual([
      ["model", "requests", "refunds", "cost_usd"],
      ["kokoro", "1", "0", "0.005"],
      ["sdxl", "2", "0", "0.01"],
    ]);
    const byDay = await download(testApp.url, "/api/billing/usage?format=csv&group_by=day", key);
    expect(parseCsv(byDay.text)).toEqual([
      ["day", "requests", "refunds", "cost_usd"],
      ["2026-03-15", "3", "0", "0.015"],
    ]);
    const bad = await api(testApp.url, "GET", "/api/billing/usage?format=xlsx", { token: key });
    expect(bad.status).toBe(400);
    expect(bad.body.error.param).toBe("format");
  });

  it("bounds a transactions export at 10,000 rows, newest first, and says so", async () => {
    const { accountId, key } = await createAccountWithKey(testApp.url, "big@example.test");
    // A grant and 5,001 rounds of reserve, release, charge, charge: 10,003 transactions.
    await appendLargeLedger(testApp.app.get<EventStore>(EVENT_STORE), accountId, 20_005);
    const csv = await download(testApp.url, "/api/billing/transactions?format=csv", key);
    expect(csv.status).toBe(200);
    expect(csv.headers.get("x-export-truncated")).toBe("true");
    const rows = parseCsv(csv.text);
    expect(rows.length).toBe(1 + 10_000);
    const newest = await api(testApp.url, "GET", "/api/billing/transactions?limit=1", {
      token: key,
    });
    expect(rows[1][0]).toBe(newest.body.data[0].id);
  }, 60_000);

  it("summarises balance, this month's spend, today's requests and the bonus", async () => {
    const { accountId, key } = await createAccountWithKey(testApp.url, "summary@example.test");
    await grantUsd(testApp.url, accountId, 10, "trial");
    // Last month's spend does not count this month.
    clock.set(new Date("2026-02-28T23:59:00.000Z"));
    await ledger.charge(accountId, { chargeId: "feb", amountMicros: 500_000, reference: "feb" });
    clock.set(new Date("2026-03-01T00:00:00.000Z"));
    await ledger.charge(accountId, { chargeId: "mar1", amountMicros: 200_000, reference: "mar1" });
    await ledger.charge(accountId, { chargeId: "mar2", amountMicros: 50_000, reference: "mar2" });
    await ledger.refund(accountId, { chargeId: "mar2", reason: "failed" });
    await ledger.reserve(accountId, {
      reservationId: "held",
      amountMicros: 1_000_000,
      reference: "job",
    });

    // Real requests through a registered upstream: one yesterday, three today (UTC).
    const upstreamDeployment = await api(testApp.url, "POST", "/api/deployments", {
      token: key,
      body: { provider: "external", name: "mine", model: "mistral:7b", base_url: upstream.baseUrl },
    });
    expect(upstreamDeployment.status).toBe(201);
    const client = new OpenAI({ apiKey: key, baseURL: `${testApp.url}/v1`, maxRetries: 0 });
    const say = () =>
      client.chat.completions.create({
        model: "mine",
        messages: [{ role: "user", content: "hi" }],
      });
    clock.set(new Date("2026-03-14T23:59:59.000Z"));
    await say();
    clock.set(new Date("2026-03-15T00:00:00.000Z"));
    await say();
    await say();
    await say();
    clock.set(new Date("2026-03-15T12:00:00.000Z"));
    await testApp.app.get(UsageRecorder).flush();

    const summary = await api(testApp.url, "GET", "/api/billing/summary", { token: key });
    expect(summary.status).toBe(200);
    expect(summary.body).toEqual({
      object: "billing.summary",
      balance_usd: 9.3,
      available_usd: 8.3,
      month_spend_usd: 0.2,
      requests_today: 3,
      first_purchase_bonus_available: true,
      minimum_purchase_usd: 5,
      bonus_percent: 50,
      currency: "usd",
    });

    // After a first purchase the bonus is spent.
    const payload = JSON.stringify(
      checkoutSessionCompleted("evt_summary", "cs_summary", accountId, 500),
    );
    const delivered = await api(testApp.url, "POST", "/api/billing/stripe/webhook", {
      body: payload,
      headers: {
        "stripe-signature": Stripe.webhooks.generateTestHeaderString({
          payload,
          secret: WEBHOOK_SECRET,
        }),
      },
    });
    expect(delivered.body.result).toBe("credited");
    const after = await api(testApp.url, "GET", "/api/billing/summary", { token: key });
    expect(after.body).toMatchObject({
      balance_usd: 16.8,
      first_purchase_bonus_available: false,
    });
    expect((await api(testApp.url, "GET", "/api/billing/summary")).status).toBe(401);
  });
});
