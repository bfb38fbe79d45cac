import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ManualClock } from "../common/clock.ts";
import { toApiError } from "../common/openai-exception.filter.ts";
import { SqliteEventStore } from "../event-store/sqlite-event-store.ts";
import { ProjectionRunner } from "../projections/projection-runner.ts";
import { ReadModelDatabase } from "../projections/read-model.database.ts";
import { replayLedger } from "./ledger.decider.ts";
import { type LedgerEvent, ledgerStream } from "./ledger.events.ts";
import { LEDGER_PROJECTION, LedgerProjection } from "./ledger.projection.ts";
import { LedgerService } from "./ledger.service.ts";
import {
  balanceAtFromHistory,
  LedgerHistoryProjection,
  recallKey,
} from "./ledger-history.projection.ts";
import { replayLedgerUntil } from "./ledger-replay.ts";

const CENT = 10_000;

describe("LedgerService on the SQLite event store", () => {
  let dir: string;
  let stores: SqliteEventStore[];
  const clock = new ManualClock();

  function openStore(): SqliteEventStore {
    const store = new SqliteEventStore({ path: join(dir, "events.sqlite") });
    stores.push(store);
    return store;
  }

  function ledgerOn(store: SqliteEventStore): LedgerService {
    return new LedgerService(store, clock, { reservationTtlSeconds: 900 });
  }

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "ledger-"));
    stores = [];
  });

  afterEach(async () => {
    for (const store of stores) await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function settleAll(promises: Promise<unknown>[]) {
    const results = await Promise.allSettled(promises);
    const refused = results.filter((result) =>
      result.status === "rejected" && toApiError(result.reason).getStatus() === 402 &&
      toApiError(result.reason).code === "insufficient_credits"
    );
    const other = results.filter((result) => result.status === "rejected").length - refused.length;
    return {
      ok: results.filter((result) => result.status === "fulfilled").length,
      refused: refused.length,
      other,
    };
  }

  async function chargedEvents(store: SqliteEventStore, accountId: string) {
    const events = await store.readStream(ledgerStream(accountId));
    return events.filter((event) => event.type === "CreditsCharged");
  }

  it("never overdraws: 40 concurrent $0.01 charges on $0.05 leave 5 charges and $0", async () => {
    const store = openStore();
    const ledger = ledgerOn(store);
    await ledger.grant("acct_race", {
      grantId: "g",
      amountMicros: 5 * CENT,
      reason: "test",
      actor: "admin",
    });
    const outcome = await settleAll(
      Array.from(
        { length: 40 },
        (_, index) =>
          ledger.charge("acct_race", {
            chargeId: `req_${index}`,
            amountMicros: CENT,
            reference: `req_${index}`,
          }),
      ),
    );
    expect(outcome).toEqual({ ok: 5, refused: 35, other: 0 });
    expect(await ledger.balance("acct_race")).toEqual({ balanceMicros: 0, availableMicros: 0 });
    expect(await chargedEvents(store, "acct_race")).toHaveLength(5);
  });

  it("never overdraws with 3 instances sharing the store", async () => {
    const ledgers = [ledgerOn(openStore()), ledgerOn(openStore()), ledgerOn(openStore())];
    await ledgers[0].grant("acct_multi", {
      grantId: "g",
      amountMicros: 5 * CENT,
      reason: "test",
      actor: "admin",
    });
    // Each instance has loaded the stream once, so all three start from a cached state.
    await Promise.all(ledgers.map((ledger) => ledger.balance("acct_multi")));
    const outcome = await settleAll(
      Array.from({ length: 40 }, (_, index) =>
        ledgers[index % 3].charge("acct_multi", {
          chargeId: `req_${index}`,
          amountMicros: CENT,
          reference: `req_${index}`,
        })),
    );
    expect(outcome).toEqual({ ok: 5, refused: 35, other: 0 });
    for (const ledger of ledgers) {
      expect(await ledger.balance("acct_multi")).toEqual({ balanceMicros: 0, availableMicros: 0 });
    }
    expect(await chargedEvents(stores[0], "acct_multi")).toHaveLength(5);
  });

  it("charges one charge key once when it is sent 10 times concurrently", async () => {
    const ledgers = [ledgerOn(openStore()), ledgerOn(openStore())];
    await ledgers[0].grant("acct_idem", {
      grantId: "g",
      amountMicros: 100 * CENT,
      reason: "test",
      actor: "admin",
    });
    const results = await Promise.all(
      Array.from(
        { length: 10 },
        (_, index) =>
          ledgers[index % 2].charge("acct_idem", {
            chargeId: "req_same",
            amountMicros: CENT,
            reference: "req_same",
          }),
      ),
    );
    expect(new Set(results.map((result) => result.transactionId)).size).toBe(1);
    expect((await ledgers[0].balance("acct_idem")).balanceMicros).toBe(99 * CENT);
    expect(await chargedEvents(stores[0], "acct_idem")).toHaveLength(1);
  });

  it("holds, settles, releases and refunds exactly once each", async () => {
    const ledger = ledgerOn(openStore());
    await ledger.grant("acct_hold", {
      grantId: "g",
      amountMicros: 50 * CENT,
      reason: "test",
      actor: "admin",
    });
    await ledger.reserve("acct_hold", {
      reservationId: "res_1",
      amountMicros: 30 * CENT,
      reference: "job_1",
    });
    expect(await ledger.balance("acct_hold")).toEqual({
      balanceMicros: 50 * CENT,
      availableMicros: 20 * CENT,
    });
    await expect(
      ledger.charge("acct_hold", { chargeId: "c1", amountMicros: 21 * CENT, reference: "r" }),
    )
      .rejects.toMatchObject({ code: "insufficient_credits" });
    const settled = await ledger.settle("acct_hold", {
      reservationId: "res_1",
      amountMicros: 8 * CENT,
      reference: "job_1",
      model: "flux-dev",
    });
    expect(
      await ledger.settle("acct_hold", {
        reservationId: "res_1",
        amountMicros: 8 * CENT,
        reference: "job_1",
      }),
    )
      .toEqual(settled);
    await ledger.release("acct_hold", { reservationId: "res_1", reason: "late" });
    expect(await ledger.balance("acct_hold")).toEqual({
      balanceMicros: 42 * CENT,
      availableMicros: 42 * CENT,
    });
    await ledger.refund("acct_hold", { chargeId: "res_1", reason: "job failed" });
    await ledger.refund("acct_hold", { chargeId: "res_1", reason: "job failed" });
    expect((await ledger.balance("acct_hold")).balanceMicros).toBe(50 * CENT);
  });

  it("writes metadata with the account, the actor and the request", async () => {
    const store = openStore();
    const ledger = ledgerOn(store);
    await ledger.grant("acct_meta", {
      grantId: "g",
      amountMicros: CENT,
      reason: "test",
      actor: "admin",
    }, {
      requestId: "req_abc",
    });
    const [event] = await store.readStream(ledgerStream("acct_meta"));
    expect(event.metadata).toMatchObject({
      accountId: "acct_meta",
      actor: "admin",
      requestId: "req_abc",
    });
  });

  it("rebuilds the read model from zero into the same rows, matching the ledger replay", async () => {
    const store = openStore();
    const ledger = ledgerOn(store);
    await ledger.purchase("acct_rows", {
      paymentReference: "cs_1",
      amountMicros: 5_000_000,
      provider: "stripe",
    });
    await Promise.allSettled(
      Array.from({ length: 30 }, (_, index) =>
        ledger.charge("acct_rows", {
          chargeId: `r${index}`,
          amountMicros: 123_457,
          reference: `r${index}`,
          model: index % 2 ? "sdxl" : "flux-dev",
        })),
    );
    await ledger.reserve("acct_rows", {
      reservationId: "h1",
      amountMicros: 10_000,
      reference: "job",
    });
    await ledger.refund("acct_rows", { chargeId: "r3", reason: "failed" });
    const readModels = new ReadModelDatabase(join(dir, "read.sqlite"));
    const runner = new ProjectionRunner(store, readModels, [new LedgerProjection()]);
    await runner.catchUpOnce();
    const snapshot = () => ({
      transactions: readModels.db.prepare("SELECT * FROM billing_transactions ORDER BY position")
        .all(),
      balances: readModels.db.prepare("SELECT * FROM billing_balances").all(),
      holds: readModels.db.prepare("SELECT * FROM billing_holds").all(),
    });
    const before = snapshot();
    await runner.rebuild(LEDGER_PROJECTION);
    expect(snapshot()).toEqual(before);

    const events = (await store.readStream(ledgerStream("acct_rows"))) as unknown as LedgerEvent[];
    const state = replayLedger(events);
    expect(before.balances).toEqual([
      expect.objectContaining({
        balance_micros: state.balanceMicros,
        held_micros: state.heldMicros,
      }),
    ]);
    // Every row's balance_after is the replayed balance right after that event.
    const after = new Map<string, number>();
    let partial = replayLedger([]);
    for (const event of events) {
      partial = replayLedger(events.slice(0, events.indexOf(event) + 1));
      after.set(event.id, partial.balanceMicros);
    }
    for (
      const row of before.transactions as Array<
        { transaction_id: string; balance_after_micros: number }
      >
    ) {
      expect(row.balance_after_micros).toBe(after.get(row.transaction_id));
    }
    readModels.close();
  });

  describe("with a bounded window of closed keys", () => {
    async function boundedLedger(recentKeys: number) {
      const store = openStore();
      const readModels = new ReadModelDatabase(join(dir, "read.sqlite"));
      const runner = new ProjectionRunner(store, readModels, [new LedgerHistoryProjection()]);
      await runner.start();
      const ledger = new LedgerService(store, clock, { reservationTtlSeconds: 900 }, {
        recall: async (accountId, key, through) => {
          await runner.waitFor(through);
          return recallKey(readModels.db, accountId, key);
        },
      }).configure({ recentKeys });
      return {
        store,
        ledger,
        readModels,
        runner,
        async close() {
          await runner.stop();
          readModels.close();
        },
      };
    }

    it("keeps memory bounded yet stays idempotent for keys it has forgotten", async () => {
      const { store, ledger, close } = await boundedLedger(5);
      const account = "acct_bounded";
      await ledger.grant(account, {
        grantId: "g",
        amountMicros: 100 * CENT,
        reason: "t",
        actor: "a",
      });
      for (let index = 0; index < 40; index++) {
        await ledger.reserve(account, {
          reservationId: `r${index}`,
          amountMicros: CENT,
          reference: "t",
        });
        await ledger.settle(account, {
          reservationId: `r${index}`,
          amountMicros: CENT,
          reference: "t",
        });
      }
      const entries = ledger.cachedEntries(account)!;
      expect(entries.charges).toBeLessThanOrEqual(5);
      expect(entries.holds).toBeLessThanOrEqual(5);
      const countBefore = (await store.readStream(ledgerStream(account))).length;
      // Replays of forgotten keys append nothing and keep their original answers.
      const settled = await ledger.settle(account, {
        reservationId: "r0",
        amountMicros: CENT,
        reference: "t",
      });
      expect(settled.transactionId).toBe(
        (await store.readStream(ledgerStream(account))).find((event) =>
          event.type === "CreditsCharged" && event.data.chargeId === "r0"
        )!.id,
      );
      await ledger.reserve(account, { reservationId: "r1", amountMicros: CENT, reference: "t" });
      await ledger.charge(account, { chargeId: "r2", amountMicros: CENT, reference: "t" });
      expect((await store.readStream(ledgerStream(account))).length).toBe(countBefore);
      // A forgotten charge is refunded by its recorded amount, once.
      await ledger.refund(account, { chargeId: "r3", reason: "t" });
      await ledger.refund(account, { chargeId: "r3", reason: "t" });
      const events = await store.readStream(ledgerStream(account));
      expect(events.length).toBe(countBefore + 1);
      expect(events.at(-1)!.data).toEqual(expect.objectContaining({ amountMicros: CENT }));
      expect((await ledger.balance(account)).balanceMicros).toBe(100 * CENT - 40 * CENT + CENT);
      expect(ledger.stats().recalls).toBeGreaterThan(0);
      await close();
    });

    it("decides a batch that forgets keys it later needs in two appends, not wrongly", async () => {
      const { store, ledger, close } = await boundedLedger(2);
      const account = "acct_batch";
      await ledger.grant(account, {
        grantId: "g",
        amountMicros: 100 * CENT,
        reason: "t",
        actor: "a",
      });
      // One batch: charges that forget each other, then replays and a refund of the first.
      const work: Promise<unknown>[] = [];
      for (let index = 0; index < 6; index++) {
        work.push(
          ledger.charge(account, { chargeId: `c${index}`, amountMicros: CENT, reference: "t" }),
        );
      }
      work.push(ledger.charge(account, { chargeId: "c0", amountMicros: CENT, reference: "t" }));
      work.push(ledger.refund(account, { chargeId: "c1", reason: "t" }));
      work.push(ledger.refund(account, { chargeId: "c1", reason: "t" }));
      await Promise.all(work);
      const events = await store.readStream(ledgerStream(account));
      expect(events.filter((event) => event.type === "CreditsCharged")).toHaveLength(6);
      expect(events.filter((event) => event.type === "CreditsRefunded")).toHaveLength(1);
      expect(replayLedger(events as unknown as LedgerEvent[]).balanceMicros).toBe(95 * CENT);
      await close();
    });

    it("answers the balance at an instant from the history as a replay would", async () => {
      const { store, ledger, readModels, runner, close } = await boundedLedger(1_000);
      const account = "acct_at";
      const instants: Date[] = [];
      clock.set(new Date("2026-03-01T00:00:00.000Z"));
      await ledger.grant(account, {
        grantId: "g",
        amountMicros: 10 * CENT,
        reason: "t",
        actor: "a",
      });
      for (let index = 0; index < 6; index++) {
        clock.advance(1_000);
        await ledger.reserve(account, {
          reservationId: `h${index}`,
          amountMicros: CENT,
          reference: "t",
        });
        instants.push(clock.now());
        clock.advance(1_000);
        if (index % 2 === 0) {
          await ledger.settle(account, {
            reservationId: `h${index}`,
            amountMicros: CENT / 2,
            reference: "t",
          });
        } else {
          await ledger.release(account, { reservationId: `h${index}`, reason: "t" });
        }
        instants.push(clock.now());
      }
      await runner.waitFor(await store.headPosition());
      for (const at of [new Date(0), ...instants]) {
        const { state } = await replayLedgerUntil(store, account, at);
        const fromHistory = balanceAtFromHistory(readModels.db, account, at.toISOString());
        expect(fromHistory).toEqual({
          balanceMicros: state.balanceMicros,
          heldMicros: state.heldMicros,
        });
      }
      await close();
    });

    it("falls back to keeping every key of an account when the history cannot answer", async () => {
      const store = openStore();
      let failing = false;
      const readModels = new ReadModelDatabase(join(dir, "read-fallback.sqlite"));
      const runner = new ProjectionRunner(store, readModels, [new LedgerHistoryProjection()]);
      await runner.start();
      const ledger = new LedgerService(store, clock, { reservationTtlSeconds: 900 }, {
        recall: async (accountId, key, through) => {
          if (failing) throw new Error("projection_failed");
          await runner.waitFor(through);
          return recallKey(readModels.db, accountId, key);
        },
      }).configure({ recentKeys: 2 });
      const account = "acct_fallback";
      await ledger.grant(account, {
        grantId: "g",
        amountMicros: 10 * CENT,
        reason: "t",
        actor: "a",
      });
      for (let index = 0; index < 5; index++) {
        await ledger.charge(account, { chargeId: `c${index}`, amountMicros: CENT, reference: "t" });
      }
      failing = true;
      await ledger.charge(account, { chargeId: "c0", amountMicros: CENT, reference: "t" });
      await ledger.refund(account, { chargeId: "c1", reason: "t" });
      const events = await store.readStream(ledgerStream(account));
      expect(events.filter((event) => event.type === "CreditsCharged")).toHaveLength(5);
      expect(ledger.cachedEntries(account)!.charges).toBe(5);
      expect((await ledger.balance(account)).balanceMicros).toBe(6 * CENT);
      await runner.stop();
      readModels.close();
    });
  });
});
