import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LedgerService } from "../../src/billing/ledger.service.ts";
import { realtimeChargeId, realtimeHoldId } from "../../src/realtime/realtime.events.ts";
import { RealtimeReconciler } from "../../src/realtime/realtime-reconciler.process.ts";
import { RealtimeSessionHandler } from "../../src/realtime/realtime-session.handler.ts";
import { createAccountWithKey, grantUsd, randomEmail } from "../support/accounts.ts";
import { connectRealtime } from "../support/realtime-client.ts";
import { type RunpodSimulator, startRunpodSimulator } from "../support/runpod-sim/index.ts";
import { api, startTestApp, TEST_ADMIN_KEY, type TestApp } from "../support/test-app.ts";

/**
 * Money for realtime: a catalogue realtime model (on the RunPod simulator's load-balancing
 * endpoint) bills each upstream `response.done` exactly once, from the usage it reports, and a
 * session cut by a crash is charged from what it recorded. Prices are round on purpose: 1,000
 * micro-dollars per input token (cached too) and 2,000 per output token.
 */
const PER_INPUT = 1_000;
const PER_OUTPUT = 2_000;

describe("realtime money", () => {
  let sim: RunpodSimulator;
  let app: TestApp;
  let modelsDir: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    sim = await startRunpodSimulator({ apiKey: "sim-runpod-key" });
    modelsDir = mkdtempSync(join(tmpdir(), "realtime-models-"));
    const modelsFile = join(modelsDir, "models.json");
    writeFileSync(
      modelsFile,
      JSON.stringify({
        models: [{
          id: "s2s-realtime",
          kind: "realtime",
          runpod_endpoint_id: "s2s-realtime",
          served_model_name: "speech-to-speech",
          price_usd: 0,
          realtime_pricing: {
            text_input_per_million_usd: 1000,
            audio_input_per_million_usd: 1000,
            cached_input_per_million_usd: 1000,
            text_output_per_million_usd: 2000,
            audio_output_per_million_usd: 2000,
          },
        }],
      }),
    );
    env = {
      MODELS_FILE: modelsFile,
      RUNPOD_LB_URL: sim.lbUrlTemplate,
      RUNPOD_API_KEY: "sim-runpod-key",
      REALTIME_HOLD_USD: "0.05",
    };
    app = await startTestApp({ env });
  });

  afterAll(async () => {
    await app?.close();
    await sim?.close();
    rmSync(modelsDir, { recursive: true, force: true });
  });

  const wsUrl = (base: string) => `${base.replace(/^http/, "ws")}/v1/realtime?model=s2s-realtime`;

  async function events(type: string, sessionId?: string): Promise<any[]> {
    const found = await api(app.url, "GET", `/admin/events?type=${type}&limit=1000`, {
      token: TEST_ADMIN_KEY,
    });
    return (found.body.data as any[]).filter((event) =>
      sessionId === undefined || event.data.sessionId === sessionId
    );
  }

  async function ledgerCharges(accountId: string, prefix: string): Promise<any[]> {
    const stream = await api(app.url, "GET", `/admin/streams/ledger-${accountId}`, {
      token: TEST_ADMIN_KEY,
    });
    return (stream.body.data as any[]).filter((event) =>
      event.type === "CreditsCharged" && String(event.data.chargeId).startsWith(prefix)
    );
  }

  async function until<T>(probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await probe();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error("condition not met in time");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  const costOf = (usage: any) => usage.input_tokens * PER_INPUT + usage.output_tokens * PER_OUTPUT;

  async function sessionIdOf(accountId: string): Promise<string> {
    return await until(async () =>
      (await events("RealtimeSessionStarted")).find((event) => event.data.accountId === accountId)
        ?.data.sessionId
    );
  }

  it("records and charges exactly one response per response.done, from its usage", async () => {
    const account = await createAccountWithKey(app.url, randomEmail("rt-money"));
    await grantUsd(app.url, account.accountId, 5);
    const client = connectRealtime(wsUrl(app.url), {
      headers: { authorization: `Bearer ${account.key}` },
    });
    await client.opened;
    await client.next("session.created");
    const done = [];
    for (const text of ["one", "two", "three"]) done.push(await client.ask(text));
    client.close(1000, "bye");
    await client.closed;
    const sessionId = await sessionIdOf(account.accountId);
    const ended = await until(async () => (await events("RealtimeSessionEnded", sessionId))[0]);

    const completed = await events("RealtimeResponseCompleted", sessionId);
    expect(completed.map((event) => event.data.responseId).sort()).toEqual(
      done.map((event) => event.response.id).sort(),
    );
    for (const event of completed) {
      const reported = done.find((d) => d.response.id === event.data.responseId).response.usage;
      expect(event.data.usage).toEqual(reported);
      expect(event.data.chargeMicros).toBe(costOf(reported));
    }
    const charges = await ledgerCharges(account.accountId, `realtime:${sessionId}:`);
    expect(charges.map((charge) => charge.data.chargeId).sort()).toEqual(
      done.map((d) => realtimeChargeId(sessionId, d.response.id)).sort(),
    );
    const due = done.reduce((sum, d) => sum + costOf(d.response.usage), 0);
    expect(charges.reduce((sum, charge) => sum + charge.data.amountMicros, 0)).toBe(due);
    expect(ended.data).toMatchObject({
      reason: "client_closed",
      clientCloseCode: 1000,
      responses: 3,
      chargedMicros: due,
    });
    // Every hold given back: the whole balance is available, and exactly `due` was spent.
    const balance = await app.app.get(LedgerService).balance(account.accountId);
    expect(balance.balanceMicros).toBe(5_000_000 - due);
    expect(balance.availableMicros).toBe(balance.balanceMicros);
  });

  it("adds nothing for a replayed response.done", async () => {
    const account = await createAccountWithKey(app.url, randomEmail("rt-replay"));
    await grantUsd(app.url, account.accountId, 5);
    sim.knobs.realtimeDuplicateDone = true;
    try {
      const client = connectRealtime(wsUrl(app.url), {
        protocols: ["realtime", `openai-insecure-api-key.${account.key}`],
      });
      await client.opened;
      const first = await client.ask("hello");
      const replay = await client.next("response.done");
      // The client sees the upstream's frames unchanged, the replay included.
      expect(replay.response.id).toBe(first.response.id);
      const second = await client.ask("again");
      await client.next("response.done");
      client.close(1000);
      await client.closed;
      const sessionId = await sessionIdOf(account.accountId);
      await until(async () => (await events("RealtimeSessionEnded", sessionId))[0]);
      expect(await events("RealtimeResponseCompleted", sessionId)).toHaveLength(2);
      const charges = await ledgerCharges(account.accountId, `realtime:${sessionId}:`);
      expect(charges).toHaveLength(2);
      expect(charges.reduce((sum, charge) => sum + charge.data.amountMicros, 0)).toBe(
        costOf(first.response.usage) + costOf(second.response.usage),
      );
    } finally {
      sim.knobs.realtimeDuplicateDone = false;
    }
  });

  it("cuts a session whose balance cannot cover the next response, with insufficient_credits", async () => {
    const account = await createAccountWithKey(app.url, randomEmail("rt-cut"));
    // Enough for the opening hold ($0.05) and a few responses, not for many.
    await grantUsd(app.url, account.accountId, 0.08);
    const client = connectRealtime(wsUrl(app.url), {
      headers: { authorization: `Bearer ${account.key}` },
    });
    await client.opened;
    let answered = 0;
    for (let turn = 0; turn < 50; turn++) {
      try {
        await client.ask(`turn ${turn} ${"word ".repeat(20)}`, {}, 5_000);
        answered++;
      } catch {
        break;
      }
    }
    const error = await client.next("error");
    expect(error.error).toMatchObject({
      type: "insufficient_credits",
      code: "insufficient_credits",
    });
    expect((await client.closed).code).toBe(1008);
    expect(answered).toBeGreaterThan(0);
    const sessionId = await sessionIdOf(account.accountId);
    const ended = await until(async () => (await events("RealtimeSessionEnded", sessionId))[0]);
    expect(ended.data.reason).toBe("insufficient_credits");
    const balance = await app.app.get(LedgerService).balance(account.accountId);
    expect(balance.balanceMicros).toBeGreaterThanOrEqual(0);
    expect(balance.availableMicros).toBe(balance.balanceMicros);
    const charges = await ledgerCharges(account.accountId, `realtime:${sessionId}:`);
    expect(charges).toHaveLength(ended.data.responses);
  });

  it("reconciles a session cut by a crash from its recorded responses, once", async () => {
    const account = await createAccountWithKey(app.url, randomEmail("rt-crash"));
    await grantUsd(app.url, account.accountId, 1);
    // What a crash leaves: the session and a response recorded, the hold placed, the charge not.
    const sessionId = "rts_crashcrashcrashcrash00";
    const handler = app.app.get(RealtimeSessionHandler);
    const ledger = app.app.get(LedgerService);
    const now = new Date().toISOString();
    await ledger.reserve(account.accountId, {
      reservationId: realtimeHoldId(sessionId, 0),
      amountMicros: 50_000,
      reference: `realtime:${sessionId}`,
    });
    await handler.handle(sessionId, {
      type: "StartSession",
      session: {
        sessionId,
        accountId: account.accountId,
        keyId: null,
        requestId: "req_crash",
        instanceId: app.config.instanceId,
        model: "s2s-realtime",
        upstreamModel: "speech-to-speech",
        routeKind: "serverless",
        deploymentId: "s2s-realtime",
        pricing: {
          kind: "tokens",
          textInputPerMillionMicros: PER_INPUT * 1e6,
          textOutputPerMillionMicros: PER_OUTPUT * 1e6,
          audioInputPerMillionMicros: PER_INPUT * 1e6,
          audioOutputPerMillionMicros: PER_OUTPUT * 1e6,
          cachedInputPerMillionMicros: PER_INPUT * 1e6,
        },
        holdId: realtimeHoldId(sessionId, 0),
        holdMicros: 50_000,
        startedAt: now,
      },
    });
    await handler.handle(sessionId, {
      type: "CompleteResponse",
      responseId: "resp_crashed",
      status: "completed",
      usage: { total_tokens: 12, input_tokens: 10, output_tokens: 2 },
      chargeMicros: 14_000,
      at: now,
    });
    handler.forget(sessionId);

    // A restart on the same data finds it at start (its instance no longer holds it).
    await app.close({ keepData: true });
    app = await startTestApp({ env, dataDir: app.dataDir });
    const ended = await until(async () => (await events("RealtimeSessionEnded", sessionId))[0]);
    expect(ended.data).toMatchObject({ reason: "reconciled", responses: 1, chargedMicros: 14_000 });
    const charges = await ledgerCharges(account.accountId, `realtime:${sessionId}:`);
    expect(charges.map((charge) => [charge.data.chargeId, charge.data.amountMicros])).toEqual([
      [realtimeChargeId(sessionId, "resp_crashed"), 14_000],
    ]);
    // Sweeping again changes nothing.
    expect(await app.app.get(RealtimeReconciler).sweep()).toBe(0);
    expect(await ledgerCharges(account.accountId, `realtime:${sessionId}:`)).toHaveLength(1);
    const balance = await app.app.get(LedgerService).balance(account.accountId);
    expect(balance.balanceMicros).toBe(1_000_000 - 14_000);
    expect(balance.availableMicros).toBe(balance.balanceMicros);
  });
});
