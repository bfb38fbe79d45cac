import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HoldExpiryProcess } from "../../src/billing/hold-expiry.process.ts";
import { LedgerRejected } from "../../src/billing/ledger.decider.ts";
import { ledgerStream } from "../../src/billing/ledger.events.ts";
import { LedgerService } from "../../src/billing/ledger.service.ts";
import { auditLedgers } from "../../src/cli/ledger-audit.ts";
import { EVENT_STORE, type EventStore } from "../../src/event-store/event-store.port.ts";
import { inferenceStream } from "../../src/inference/inference.events.ts";
import { PendingSettlements } from "../../src/inference/pending-settlements.ts";
import { UsageRecorder } from "../../src/inference/usage-recorder.ts";
import { ProjectionRunner } from "../../src/projections/projection-runner.ts";
import { appendLargeLedger, expectedAfter, instant } from "../billing/support/large-ledger.ts";
import { createTenant, startGateway, type Tenant, waitUntil } from "../inference/support.ts";
import { type RunpodSimulator, startRunpodSimulator } from "../support/runpod-sim/index.ts";
import { api, startTestApp, type TestApp } from "../support/test-app.ts";

/** Events in the large ledger: enough that a replay on the event loop is plainly visible. */
const LARGE_LEDGER_EVENTS = 50_000;
/** Charges pushed through the ledger service to measure what it keeps in memory. */
const MANY_CHARGES = 100_000;
const PRICE_MICROS = 10_000; // qwen3-8b in the catalogue: $0.01 a request

async function timed<T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await work();
  return { value, ms: performance.now() - started };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}

describe("scenario 10 (second half): balance at an instant and ledger memory", () => {
  let gateway: TestApp;

  beforeAll(async () => {
    gateway = await startGateway();
  });

  afterAll(async () => {
    await gateway?.close();
  });

  it(
    "answers ?at= on a large ledger in milliseconds without holding up other requests",
    async () => {
      const tenant = await createTenant(gateway);
      const store = gateway.app.get<EventStore>(EVENT_STORE);
      const built = await timed(() =>
        appendLargeLedger(store, tenant.accountId, LARGE_LEDGER_EVENTS)
      );
      await gateway.app.get(ProjectionRunner).waitFor(
        await store.headPosition(),
        undefined,
        120_000,
      );

      const balanceAt = (index: number) =>
        api(
          gateway.url,
          "GET",
          `/api/billing/balance?at=${
            encodeURIComponent(
              new Date(instant(index).getTime() + 500).toISOString(),
            )
          }`,
          { token: tenant.key },
        );
      await balanceAt(1); // first use: connections and statements warm up
      const atMs: number[] = [];
      const cheapMs: number[] = [];
      for (const index of [LARGE_LEDGER_EVENTS - 1, 12_345, 33_333, 7, 49_000]) {
        // A cheap request sent at the same moment must not wait for the ?at= answer.
        const [at, cheap] = await Promise.all([
          timed(() => balanceAt(index)),
          timed(() => api(gateway.url, "GET", "/v1/models", { token: tenant.key })),
        ]);
        expect(at.value.status).toBe(200);
        expect(cheap.value.status).toBe(200);
        const want = expectedAfter(index, LARGE_LEDGER_EVENTS);
        expect(Math.round(at.value.body.balance_usd * 1e6)).toBe(want.balanceMicros);
        expect(Math.round(at.value.body.available_usd * 1e6)).toBe(
          want.balanceMicros - want.heldMicros,
        );
        atMs.push(at.ms);
        cheapMs.push(cheap.ms);
      }
      const figures = {
        scenario: 10,
        ledgerEvents: LARGE_LEDGER_EVENTS,
        buildSeconds: round(built.ms / 1000),
        atMedianMs: round(median(atMs)),
        atMaxMs: round(Math.max(...atMs)),
        concurrentCheapMaxMs: round(Math.max(...cheapMs)),
      };
      console.log(JSON.stringify(figures));
      expect(figures.atMedianMs).toBeLessThan(50);
      expect(figures.concurrentCheapMaxMs).toBeLessThan(100);
    },
    180_000,
  );

  it("keeps the ledger's in-memory entries per account bounded after 100,000 charges", async () => {
    const tenant = await createTenant(gateway);
    const ledger = gateway.app.get(LedgerService);
    await ledger.grant(tenant.accountId, {
      grantId: "many-charges",
      amountMicros: MANY_CHARGES,
      reason: "test",
      actor: "test",
    });
    const charged = await timed(async () => {
      for (let start = 0; start < MANY_CHARGES; start += 10_000) {
        await Promise.all(
          Array.from({ length: 10_000 }, (_, offset) =>
            ledger.charge(tenant.accountId, {
              chargeId: `req_${start + offset}`,
              amountMicros: 1,
              reference: "test",
            })),
        );
      }
    });
    // What the cached account keeps: a map entry per charge and per hold.
    const cached = ledger.cachedEntries(tenant.accountId)!;
    const entries = cached.charges + cached.holds;
    // Idempotency still holds for a key long forgotten: a replay of the first charge is a no-op.
    await ledger.charge(tenant.accountId, {
      chargeId: "req_0",
      amountMicros: 1,
      reference: "test",
    });
    const balance = await ledger.balance(tenant.accountId);
    const figures = {
      scenario: 10,
      charges: MANY_CHARGES,
      chargeSeconds: round(charged.ms / 1000),
      entriesInMemory: entries,
    };
    console.log(JSON.stringify(figures));
    expect(balance.balanceMicros).toBe(0);
    expect(entries).toBeLessThanOrEqual(2_500);
  }, 180_000);
});

describe("scenario 11: a completed request is always charged", () => {
  let sim: RunpodSimulator;

  beforeAll(async () => {
    sim = await startRunpodSimulator({ tokensPerSecond: 2_000, executionMs: 1, coldStartMs: 0 });
  });

  afterAll(async () => {
    await sim?.close();
  });

  const serverlessEnv = (reconcileMs: string) => ({
    RUNPOD_API_URL: sim.serverlessUrl,
    RUNPOD_API_KEY: "rp-secret-key-123",
    RECONCILE_INTERVAL_MS: "3600000",
    METERING_INTERVAL_MS: "3600000",
    CHARGE_RECONCILE_INTERVAL_MS: reconcileMs,
  });

  async function ledgerEvents(gateway: TestApp, accountId: string) {
    return await gateway.app.get<EventStore>(EVENT_STORE).readStream(ledgerStream(accountId));
  }

  async function chat(tenant: Tenant) {
    const completion = await tenant.client.chat.completions.create({
      model: "qwen3-8b",
      messages: [{ role: "user", content: "hi" }],
    });
    expect(completion.choices[0].message.content).toBeTruthy();
  }

  /** The inference id (the charge key) of the tenant's last completed request. */
  async function lastInferenceId(gateway: TestApp, accountId: string): Promise<string> {
    await gateway.app.get(UsageRecorder).flush();
    const events = await gateway.app.get<EventStore>(EVENT_STORE).readAll({
      filter: { streamPrefixes: ["inference-"], eventTypes: ["InferenceCompleted"] },
      maxCount: 10_000,
    });
    const mine = events.filter((event) => event.data.accountId === accountId);
    expect(mine.at(-1)!.data.chargedMicros).toBe(PRICE_MICROS);
    return mine.at(-1)!.data.inferenceId;
  }

  async function chargesOf(gateway: TestApp, accountId: string, key: string) {
    return (await ledgerEvents(gateway, accountId)).filter((event) =>
      event.type === "CreditsCharged" && event.data.chargeId === key
    );
  }

  it("charges a request whose settlement was refused, once", async () => {
    const gateway = await startGateway(serverlessEnv("200"));
    try {
      const tenant = await createTenant(gateway, "1");
      const ledger = gateway.app.get(LedgerService);
      const settle = ledger.settle.bind(ledger);
      let refused = 0;
      // The per-request settlement fails definitively (PendingSettlements drops a 4xx at once).
      ledger.settle = ((...args: Parameters<typeof settle>) => {
        if (refused++ === 0) {
          return Promise.reject(new LedgerRejected("insufficient_credits", "Insufficient credits"));
        }
        return settle(...args);
      }) as typeof ledger.settle;
      const started = performance.now();
      await chat(tenant);
      const key = await lastInferenceId(gateway, tenant.accountId);
      await waitUntil(
        async () => (await chargesOf(gateway, tenant.accountId, key)).length > 0,
        10_000,
      );
      const seconds = (performance.now() - started) / 1000;
      // A few more sweeps: still exactly one charge.
      await new Promise((resolve) => setTimeout(resolve, 600));
      const charges = await chargesOf(gateway, tenant.accountId, key);
      const balance = await api(gateway.url, "GET", "/api/billing/balance", { token: tenant.key });
      console.log(
        JSON.stringify({
          scenario: 11,
          case: "settlement_refused",
          chargedAfterSeconds: round(seconds),
          charges: charges.length,
        }),
      );
      expect(refused).toBeGreaterThanOrEqual(1);
      expect(charges).toHaveLength(1);
      expect(charges[0].data).toMatchObject({ amountMicros: PRICE_MICROS, reservationId: key });
      expect(charges[0].metadata.actor).toBe("system:charge-reconciler");
      expect(balance.body.balance_usd).toBeCloseTo(0.99, 6);
    } finally {
      await gateway.close();
    }
  }, 60_000);

  it(
    "settles an expired hold of a completed request, and writes off what the balance no longer covers",
    async () => {
      const gateway = await startGateway(serverlessEnv("200"));
      try {
        const tenant = await createTenant(gateway, "0.02");
        const ledger = gateway.app.get(LedgerService);
        const store = gateway.app.get<EventStore>(EVENT_STORE);
        const completed = async (inferenceId: string) => {
          const at = new Date(Date.now() - 5_000).toISOString();
          await store.append(inferenceStream(inferenceId), [{
            id: crypto.randomUUID(),
            type: "InferenceCompleted",
            data: {
              inferenceId,
              requestId: `req-${inferenceId}`,
              accountId: tenant.accountId,
              keyId: null,
              endpoint: "chat.completions",
              model: "qwen3-8b",
              upstreamModel: "Qwen/Qwen3-8B",
              routeKind: "serverless",
              deploymentId: "serverless",
              stream: true,
              latencyMs: 900_000,
              timeToFirstTokenMs: 10,
              chargedMicros: PRICE_MICROS,
              startedAt: at,
              finishedAt: at,
              promptTokens: 1,
              completionTokens: 1,
              totalTokens: 2,
              usageEstimated: false,
              finishReason: "stop",
              clientAborted: false,
            },
          }]);
        };
        // A: the hold expired while its (long) stream ran, and its settlement never landed.
        await ledger.reserve(tenant.accountId, {
          reservationId: "inf_expired_covered",
          amountMicros: PRICE_MICROS,
          reference: "inference:inf_expired_covered",
          expiresAt: new Date(Date.now() - 1_000),
        });
        await completed("inf_expired_covered");
        // B: the hold was released by expiry, the freed credit was spent, then the request completed.
        await ledger.reserve(tenant.accountId, {
          reservationId: "inf_expired_spent",
          amountMicros: PRICE_MICROS,
          reference: "inference:inf_expired_spent",
        });
        await ledger.release(tenant.accountId, {
          reservationId: "inf_expired_spent",
          reason: "expired",
        });
        await ledger.charge(tenant.accountId, {
          chargeId: "spent",
          amountMicros: PRICE_MICROS,
          reference: "t",
        });
        await completed("inf_expired_spent");

        // The hold-expiry sweep runs on its own timer (every minute here); run one now.
        await gateway.app.get(ProjectionRunner).waitFor(await store.headPosition());
        await gateway.app.get(HoldExpiryProcess).sweep();
        await waitUntil(async () => {
          const events = await ledgerEvents(gateway, tenant.accountId);
          return events.some((event) => event.type === "ChargeWrittenOff");
        }, 10_000);
        const events = await ledgerEvents(gateway, tenant.accountId);
        const about = (key: string) =>
          events.filter((event) => event.data.reservationId === key || event.data.chargeId === key)
            .map((event) => event.type);
        const writeOff = events.find((event) => event.type === "ChargeWrittenOff")!;
        const balance = await api(gateway.url, "GET", "/api/billing/balance", {
          token: tenant.key,
        });
        const audit = await auditLedgers(store, { accountId: tenant.accountId });
        console.log(JSON.stringify({
          scenario: 11,
          case: "expired_holds",
          covered: about("inf_expired_covered"),
          spent: about("inf_expired_spent"),
          writeOffReason: writeOff.data.reason,
          auditProblems: audit.problems,
        }));
        // Settled while its hold still covered it: never released, never free.
        expect(about("inf_expired_covered")).toEqual(["CreditsReserved", "CreditsCharged"]);
        expect(about("inf_expired_spent")).toEqual([
          "CreditsReserved",
          "ReservationReleased",
          "ChargeWrittenOff",
        ]);
        expect(writeOff.data).toMatchObject({
          chargeId: "inf_expired_spent",
          amountMicros: PRICE_MICROS,
          reason: "insufficient_credits",
        });
        // The available balance never went below zero.
        expect(balance.body.available_usd).toBe(0);
        expect(audit.problems).toBe(0);
      } finally {
        await gateway.close();
      }
    },
    60_000,
  );

  it(
    "charges, from a new instance on the same DATA_DIR, a request served just before a crash",
    async () => {
      const dataDir = mkdtempSync(join(tmpdir(), "modelpilot-money-"));
      try {
        const env = { ALLOW_PRIVATE_UPSTREAMS: "true", ...serverlessEnv("3600000") };
        const first = await startTestApp({ env, dataDir });
        const tenant = await createTenant(first, "1");
        // The process dies after the response and the usage event, before the settlement runs.
        first.app.get(PendingSettlements).track = () => undefined;
        await chat(tenant);
        const key = await lastInferenceId(first, tenant.accountId);
        await first.close();

        const started = performance.now();
        const second = await startTestApp({
          env: { ...env, CHARGE_RECONCILE_INTERVAL_MS: "200" },
          dataDir,
        });
        try {
          await waitUntil(
            async () => (await chargesOf(second, tenant.accountId, key)).length > 0,
            10_000,
          );
          const seconds = (performance.now() - started) / 1000;
          const charges = await chargesOf(second, tenant.accountId, key);
          const balance = await api(second.url, "GET", "/api/billing/balance", {
            token: tenant.key,
          });
          console.log(
            JSON.stringify({
              scenario: 11,
              case: "crash_before_settlement",
              chargedAfterRestartSeconds: round(seconds),
              charges: charges.length,
            }),
          );
          expect(charges).toHaveLength(1);
          expect(balance.body.balance_usd).toBeCloseTo(0.99, 6);
          expect(balance.body.available_usd).toBeCloseTo(0.99, 6);
        } finally {
          await second.close();
        }
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
      }
    },
    60_000,
  );
});
