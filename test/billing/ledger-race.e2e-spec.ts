import { rmSync } from "node:fs";
import { BillingQueries } from "../../src/billing/billing.queries.ts";
import { replayLedger } from "../../src/billing/ledger.decider.ts";
import { type LedgerEvent, ledgerStream } from "../../src/billing/ledger.events.ts";
import { LEDGER_PROJECTION } from "../../src/billing/ledger.projection.ts";
import { LedgerService } from "../../src/billing/ledger.service.ts";
import { toApiError } from "../../src/common/openai-exception.filter.ts";
import { EVENT_STORE, type EventStore } from "../../src/event-store/event-store.port.ts";
import { ProjectionRunner } from "../../src/projections/projection-runner.ts";
import { fundedAccount } from "../support/accounts.ts";
import { api, startTestApp, type TestApp } from "../support/test-app.ts";

const CENT = 10_000;

async function fortyChargesOfOneCent(ledgers: LedgerService[], accountId: string) {
  const results = await Promise.allSettled(
    Array.from({ length: 40 }, (_, index) =>
      ledgers[index % ledgers.length].charge(accountId, {
        chargeId: `req_${index}`,
        amountMicros: CENT,
        reference: `req_${index}`,
        model: "qwen3-8b",
      })),
  );
  const refused =
    results.filter((result) =>
      result.status === "rejected" && toApiError(result.reason).getStatus() === 402 &&
      toApiError(result.reason).body().error.code === "insufficient_credits"
    ).length;
  return {
    succeeded: results.filter((result) => result.status === "fulfilled").length,
    refused,
    failedOtherwise: results.length - refused -
      results.filter((result) => result.status === "fulfilled").length,
  };
}

async function chargesInLedger(store: EventStore, accountId: string): Promise<number> {
  return (await store.readStream(ledgerStream(accountId))).filter((event) =>
    event.type === "CreditsCharged"
  ).length;
}

describe("the ledger under concurrent charges (real app, real SQLite)", () => {
  let testApp: TestApp;

  beforeAll(async () => {
    testApp = await startTestApp();
  });
  afterAll(async () => {
    await testApp?.close();
  });

  it("lets exactly 5 of 40 concurrent $0.01 charges through on $0.05 and ends at exactly $0", async () => {
    const { accountId, key } = await fundedAccount(testApp.url, "race@example.test", 0.05);
    const outcome = await fortyChargesOfOneCent([testApp.app.get(LedgerService)], accountId);
    expect(outcome).toEqual({ succeeded: 5, refused: 35, failedOtherwise: 0 });
    const balance = await api(testApp.url, "GET", "/api/billing/balance", { token: key });
    expect(balance.body).toMatchObject({ balance_usd: 0, available_usd: 0 });
    expect(await chargesInLedger(testApp.app.get(EVENT_STORE), accountId)).toBe(5);
  });

  it("charges once when the same charge key is sent 10 times concurrently", async () => {
    const { accountId, key } = await fundedAccount(testApp.url, "idempotent@example.test", 1);
    const ledger = testApp.app.get(LedgerService);
    const results = await Promise.all(
      Array.from(
        { length: 10 },
        () =>
          ledger.charge(accountId, {
            chargeId: "req_once",
            amountMicros: CENT,
            reference: "req_once",
          }),
      ),
    );
    expect(new Set(results.map((result) => result.transactionId)).size).toBe(1);
    const balance = await api(testApp.url, "GET", "/api/billing/balance", { token: key });
    expect(balance.body.balance_usd).toBe(0.99);
    expect(await chargesInLedger(testApp.app.get(EVENT_STORE), accountId)).toBe(1);
  });

  it("rebuilds the billing read model from zero into exactly the same rows", async () => {
    const { accountId } = await fundedAccount(testApp.url, "replay@example.test", 2);
    const ledger = testApp.app.get(LedgerService);
    await Promise.allSettled(
      Array.from(
        { length: 25 },
        (_, index) =>
          ledger.charge(accountId, {
            chargeId: `r${index}`,
            amountMicros: 90_001,
            reference: `r${index}`,
            model: "sdxl",
          }),
      ),
    );
    await ledger.refund(accountId, { chargeId: "r1", reason: "failed" });
    const queries = testApp.app.get(BillingQueries);
    const before = await queries.transactionRows(accountId);
    await testApp.app.get(ProjectionRunner).rebuild(LEDGER_PROJECTION);
    expect(await queries.transactionRows(accountId)).toEqual(before);
    const events = (await testApp.app.get(EVENT_STORE).readStream(
      ledgerStream(accountId),
    )) as unknown as LedgerEvent[];
    expect(before.at(-1)!.balance_after_micros).toBe(replayLedger(events).balanceMicros);
    expect((await ledger.balance(accountId)).balanceMicros).toBe(
      replayLedger(events).balanceMicros,
    );
  });
});

describe("the ledger with 3 app instances sharing one event store", () => {
  const apps: TestApp[] = [];

  beforeAll(async () => {
    apps.push(await startTestApp({ env: { INSTANCE_ID: "a" } }));
    apps.push(await startTestApp({ env: { INSTANCE_ID: "b" }, dataDir: apps[0].dataDir }));
    apps.push(await startTestApp({ env: { INSTANCE_ID: "c" }, dataDir: apps[0].dataDir }));
  });
  afterAll(async () => {
    for (const app of apps.reverse()) await app.close({ keepData: true });
    if (apps[0]) rmSync(apps[0].dataDir, { recursive: true, force: true });
  });

  it("lets exactly 5 of 40 concurrent $0.01 charges through across the instances", async () => {
    const [first] = apps;
    const { accountId, key } = await fundedAccount(first.url, "race3@example.test", 0.05);
    const ledgers = apps.map((app) => app.app.get(LedgerService));
    // Every instance caches the account's state first, so each must detect the others' appends.
    await Promise.all(ledgers.map((ledger) => ledger.balance(accountId)));
    const outcome = await fortyChargesOfOneCent(ledgers, accountId);
    expect(outcome).toEqual({ succeeded: 5, refused: 35, failedOtherwise: 0 });
    // The instances really did race: some appends met another instance's write first.
    expect(ledgers.reduce((sum, ledger) => sum + ledger.stats().conflictRetries, 0))
      .toBeGreaterThan(0);
    for (const app of apps) {
      const balance = await api(app.url, "GET", "/api/billing/balance", { token: key });
      expect(balance.body).toMatchObject({ balance_usd: 0, available_usd: 0 });
      const transactions = await api(app.url, "GET", "/api/billing/transactions?limit=100", {
        token: key,
      });
      expect(transactions.body.data.filter((row: any) => row.type === "charge")).toHaveLength(5);
      expect(transactions.body.data[0].balance_after_usd).toBe(0);
    }
    expect(await chargesInLedger(first.app.get(EVENT_STORE), accountId)).toBe(5);
  });

  it("charges once when one charge key arrives 10 times across the instances", async () => {
    const { accountId } = await fundedAccount(apps[0].url, "idem3@example.test", 1);
    const results = await Promise.all(
      Array.from(
        { length: 10 },
        (_, index) =>
          apps[index % 3].app.get(LedgerService).charge(accountId, {
            chargeId: "req_once",
            amountMicros: CENT,
            reference: "req_once",
          }),
      ),
    );
    expect(new Set(results.map((result) => result.transactionId)).size).toBe(1);
    expect(await chargesInLedger(apps[0].app.get(EVENT_STORE), accountId)).toBe(1);
  });
});
