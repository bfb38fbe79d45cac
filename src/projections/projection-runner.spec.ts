import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DatabaseSync } from "node:sqlite";
import { newEventId } from "../common/ids.ts";
import type { RecordedEvent } from "../event-store/event-store.port.ts";
import { SqliteEventStore } from "../event-store/sqlite-event-store.ts";
import type { Projection } from "./projection.ts";
import { MultiRowInsert } from "./multi-row-insert.ts";
import { ProjectionRunner } from "./projection-runner.ts";
import { ReadModelDatabase } from "./read-model.database.ts";

/** Counts deposits per account: the smallest projection that shows double-apply or skips. */
function depositTotals(version = 1, failOn?: number): Projection & { applied: number } {
  return {
    name: "deposit-totals",
    version,
    applied: 0,
    filter: { eventTypes: ["Deposited"] },
    setup(db: DatabaseSync) {
      db.exec(
        "CREATE TABLE IF NOT EXISTS deposit_totals (account TEXT PRIMARY KEY, total INTEGER NOT NULL, events INTEGER NOT NULL)",
      );
    },
    reset(db: DatabaseSync) {
      db.exec("DELETE FROM deposit_totals");
    },
    apply(event: RecordedEvent, db: DatabaseSync) {
      if (failOn !== undefined && event.data.amount === failOn) throw new Error("poison event");
      this.applied++;
      db.prepare(
        `INSERT INTO deposit_totals (account, total, events) VALUES (?, ?, 1)
         ON CONFLICT(account) DO UPDATE SET total = total + excluded.total, events = events + 1`,
      ).run(event.data.account, event.data.amount);
    },
  };
}

/** depositTotals applied a batch at a time, through MultiRowInsert, as the bulk projections do. */
function batchedDepositTotals(failOn?: number): Projection & { batches: number[] } {
  const upsert = new MultiRowInsert(
    "INSERT INTO deposit_totals (account, total, events)",
    "(?, ?, 1)",
    "ON CONFLICT(account) DO UPDATE SET total = total + excluded.total, events = events + 1",
  );
  return {
    ...depositTotals(),
    batches: [],
    apply() {
      throw new Error("the runner applies a projection with applyBatch through applyBatch");
    },
    applyBatch(events: readonly RecordedEvent[], db: DatabaseSync) {
      this.batches.push(events.length);
      const values = events.flatMap((event) => [event.data.account, event.data.amount]);
      upsert.run(db, values);
      if (events.some((event) => event.data.amount === failOn)) throw new Error("poison event");
    },
  };
}

function rows(readModels: ReadModelDatabase) {
  return readModels.db.prepare("SELECT account, total, events FROM deposit_totals ORDER BY account")
    .all();
}

async function deposit(store: SqliteEventStore, account: string, amount: number) {
  return await store.append(`acct-${account}`, [{
    id: newEventId(),
    type: "Deposited",
    data: { account, amount },
  }]);
}

describe("ProjectionRunner", () => {
  let dir: string;
  let store: SqliteEventStore;
  const cleanups: Array<() => Promise<void> | void> = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "projections-"));
    store = new SqliteEventStore({ path: join(dir, "events.sqlite") });
  });

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function open(projection: Projection) {
    const readModels = new ReadModelDatabase(join(dir, "read.sqlite"));
    const runner = new ProjectionRunner(store, readModels, [projection], { batchSize: 50 });
    cleanups.push(async () => {
      await runner.stop();
      readModels.close();
    });
    return { readModels, runner };
  }

  it("applies events live and waitFor resolves once the write is visible", async () => {
    const { readModels, runner } = open(depositTotals());
    await runner.start();
    const first = await deposit(store, "a", 5);
    await runner.waitFor(first.position);
    expect(rows(readModels)).toEqual([{ account: "a", total: 5, events: 1 }]);
    await deposit(store, "b", 7);
    const last = await deposit(store, "a", 3);
    await runner.waitFor(last.position);
    expect(rows(readModels)).toEqual([
      { account: "a", total: 8, events: 2 },
      { account: "b", total: 7, events: 1 },
    ]);
  });

  it("advances its checkpoint past events its filter skips, so waitFor never hangs on them", async () => {
    const { runner } = open(depositTotals());
    await runner.start();
    const other = await store.append("misc-1", [{ id: newEventId(), type: "Other", data: {} }]);
    await runner.waitFor(other.position, undefined, 2000);
    const [status] = await runner.status();
    expect(status.checkpoint).toBe(other.position);
    expect(status.lag).toBe(0n);
  });

  it("resumes from its checkpoint after a restart without applying any event twice", async () => {
    for (let i = 0; i < 120; i++) await deposit(store, `a${i % 3}`, 1);
    const firstRun = open(depositTotals());
    await firstRun.runner.start();
    await firstRun.runner.waitFor(await store.headPosition());
    await firstRun.runner.stop();
    firstRun.readModels.close();

    for (let i = 0; i < 30; i++) await deposit(store, `a${i % 3}`, 1);
    const projection = depositTotals();
    const second = open(projection);
    await second.runner.start();
    await second.runner.waitFor(await store.headPosition());
    expect(projection.applied).toBe(30);
    expect(rows(second.readModels)).toEqual([
      { account: "a0", total: 50, events: 50 },
      { account: "a1", total: 50, events: 50 },
      { account: "a2", total: 50, events: 50 },
    ]);
  });

  it("rebuilds from zero to exactly the same rows", async () => {
    for (let i = 0; i < 200; i++) await deposit(store, `a${i % 7}`, i);
    const { readModels, runner } = open(depositTotals());
    await runner.start();
    await runner.waitFor(await store.headPosition());
    const before = rows(readModels);
    await runner.rebuild("deposit-totals");
    expect(rows(readModels)).toEqual(before);
    expect(before).toHaveLength(7);
  });

  it("applies every event once when rebuilds overlap each other and live writes", async () => {
    for (let i = 0; i < 100; i++) await deposit(store, `a${i % 4}`, 1);
    const { readModels, runner } = open(depositTotals());
    await runner.start();
    await runner.waitFor(await store.headPosition());
    // Two operators press "rebuild" at once while requests keep writing (the fault schedule
    // found this: a second rebuild left the first one's subscription running beside its own).
    const writes = (async () => {
      for (let i = 0; i < 20; i++) await deposit(store, `a${i % 4}`, 1);
    })();
    await Promise.all([runner.rebuild("deposit-totals"), runner.rebuild("deposit-totals"), writes]);
    await deposit(store, "a0", 1);
    await runner.waitFor(await store.headPosition());
    expect(rows(readModels)).toEqual([
      { account: "a0", total: 31, events: 31 },
      { account: "a1", total: 30, events: 30 },
      { account: "a2", total: 30, events: 30 },
      { account: "a3", total: 30, events: 30 },
    ]);
  });

  it("feeds a batch projection every matching event once, in batches, across a restart and a rebuild", async () => {
    for (let i = 0; i < 120; i++) await deposit(store, `a${i % 3}`, i);
    await store.append("other-1", [{ id: newEventId(), type: "Ignored", data: {} }]);
    const first = open(batchedDepositTotals());
    await first.runner.catchUpOnce();
    await first.runner.stop();
    first.readModels.close();

    for (let i = 120; i < 150; i++) await deposit(store, `a${i % 3}`, i);
    const projection = batchedDepositTotals();
    const second = open(projection);
    await second.runner.catchUpOnce();
    expect(projection.batches.reduce((sum, size) => sum + size, 0)).toBe(30);
    const expected = [0, 1, 2].map((account) => {
      const amounts = Array.from({ length: 150 }, (_, i) => i).filter((i) => i % 3 === account);
      return {
        account: `a${account}`,
        total: amounts.reduce((sum, amount) => sum + amount, 0),
        events: 50,
      };
    });
    expect(rows(second.readModels)).toEqual(expected);

    projection.batches.length = 0;
    await second.runner.rebuild("deposit-totals");
    expect(rows(second.readModels)).toEqual(expected);
    // One call per page of batchSize (50) events, not one per event; the third page holds the
    // skipped event, so only 49 of it match.
    expect(projection.batches).toEqual([50, 50, 49, 1]);
  });

  it("rolls back a batch projection's whole batch when applyBatch throws", async () => {
    for (let i = 0; i < 60; i++) await deposit(store, "a", 1);
    const poison = await deposit(store, "a", 13);
    const { readModels, runner } = open(batchedDepositTotals(13));
    await runner.catchUpOnce();
    const [status] = await runner.status();
    expect(status.state).toBe("failed");
    expect(status.checkpoint).toBeLessThan(poison.position);
    // The first batch of 50 committed; the second, holding the poison event, left no row behind.
    expect(rows(readModels)).toEqual([{ account: "a", total: 50, events: 50 }]);
  });

  it("a version bump rebuilds the projection at start", async () => {
    for (let i = 0; i < 10; i++) await deposit(store, "a", 1);
    const v1 = open(depositTotals(1));
    await v1.runner.start();
    await v1.runner.waitFor(await store.headPosition());
    await v1.runner.stop();
    v1.readModels.close();
    const projection = depositTotals(2);
    const v2 = open(projection);
    await v2.runner.start();
    await v2.runner.waitFor(await store.headPosition());
    expect(projection.applied).toBe(10);
    expect(rows(v2.readModels)).toEqual([{ account: "a", total: 10, events: 10 }]);
  });

  it("a projection that throws stops in a visible failed state and waitFor rejects", async () => {
    const { readModels, runner } = open(depositTotals(1, 13));
    await runner.start();
    await deposit(store, "a", 1);
    const poison = await deposit(store, "a", 13);
    await expect(runner.waitFor(poison.position, undefined, 2000)).rejects.toMatchObject({
      code: "projection_failed",
    });
    const [status] = await runner.status();
    expect(status.state).toBe("failed");
    expect(status.error).toBe("poison event");
    // The batch holding the poison event was rolled back as a whole, and the checkpoint with it.
    expect(status.checkpoint).toBeLessThan(poison.position);
    const applied = rows(readModels) as Array<{ total: number }>;
    expect(applied.length === 0 || applied[0].total === 1).toBe(true);
  });

  it("untilCurrent does not wait for events of types no projection reads", async () => {
    const { runner } = open(depositTotals());
    await runner.start();
    await runner.waitFor(await store.headPosition());
    // Nothing feeds the projection from here: a check that waited for any event would hang.
    await runner.stop();
    await store.append("misc-1", [{ id: newEventId(), type: "Other", data: {} }]);
    await expect(runner.untilCurrent(["deposit-totals"])).resolves.toBeUndefined();
    // A relevant append does make it wait (and here, with nothing feeding it, give up).
    await deposit(store, "a", 1);
    await expect(
      Promise.race([
        runner.untilCurrent(["deposit-totals"]).then(() => "current"),
        new Promise((resolve) => setTimeout(() => resolve("waiting"), 100)),
      ]),
    ).resolves.toBe("waiting");
  });

  it("untilCurrent sees an append made through another connection to the same file", async () => {
    const { readModels, runner } = open(depositTotals());
    await runner.start();
    const other = new SqliteEventStore({ path: join(dir, "events.sqlite") });
    cleanups.push(() => other.close());
    for (let round = 0; round < 5; round++) {
      await other.append(`misc-${round}`, [{ id: newEventId(), type: "Other", data: {} }]);
      await deposit(other, "shared", 1);
      // No sleep: the very next check must wait until the other writer's deposit is applied.
      await runner.untilCurrent(["deposit-totals"]);
      expect(rows(readModels)).toEqual([{
        account: "shared",
        total: round + 1,
        events: round + 1,
      }]);
    }
  });

  it("untilCurrent makes every read model current, not only the named one", async () => {
    const readModels = new ReadModelDatabase(join(dir, "read.sqlite"));
    const deposits = depositTotals();
    const named: Projection = {
      name: "named",
      version: 1,
      filter: { eventTypes: ["Named"] },
      setup() {},
      reset() {},
      apply() {},
    };
    const runner = new ProjectionRunner(store, readModels, [named, deposits]);
    cleanups.push(async () => {
      await runner.stop();
      readModels.close();
    });
    await runner.start();
    const other = new SqliteEventStore({ path: join(dir, "events.sqlite") });
    cleanups.push(() => other.close());
    for (let round = 0; round < 5; round++) {
      await deposit(other, "elsewhere", 1);
      // The caller (the auth guard) names its own projection; reads of any other follow it.
      await runner.untilCurrent(["named"]);
      expect(rows(readModels)).toEqual([
        { account: "elsewhere", total: round + 1, events: round + 1 },
      ]);
    }
  });

  it("treats every type as relevant when more events arrived than it looks at one by one", async () => {
    const { runner } = open(depositTotals());
    await runner.start();
    const other = new SqliteEventStore({ path: join(dir, "events.sqlite") });
    cleanups.push(() => other.close());
    await deposit(other, "a", 1);
    for (let batch = 0; batch < 11; batch++) {
      await Promise.all(
        Array.from(
          { length: 100 },
          (_, index) =>
            other.append(`misc-${batch}-${index}`, [{ id: newEventId(), type: "Other", data: {} }]),
        ),
      );
    }
    // Over 1,000 unseen events: the bound is the head, which the runner reaches anyway.
    await runner.untilCurrent(["deposit-totals"]);
    const [status] = await runner.status();
    expect(status.checkpoint).toBe(await store.headPosition());
  });

  it("counts changes to a projection's rows, not batches it skipped", async () => {
    const { runner } = open(depositTotals());
    await runner.start();
    const first = await deposit(store, "a", 1);
    await runner.waitFor(first.position);
    const before = runner.changeCount("deposit-totals");
    const other = await store.append("misc-1", [{ id: newEventId(), type: "Other", data: {} }]);
    await runner.waitFor(other.position);
    expect(runner.changeCount("deposit-totals")).toBe(before);
    const next = await deposit(store, "a", 1);
    await runner.waitFor(next.position);
    expect(runner.changeCount("deposit-totals")).toBeGreaterThan(before);
  });

  it("stores a checkpoint moved only by skipped events at stop, so a restart resumes there", async () => {
    const first = open(depositTotals());
    await first.runner.start();
    await deposit(store, "a", 1);
    for (let i = 0; i < 20; i++) {
      await store.append(`misc-${i}`, [{ id: newEventId(), type: "Other", data: {} }]);
    }
    const head = await store.headPosition();
    await first.runner.waitFor(head);
    await first.runner.stop();
    const saved = first.readModels.db.prepare(
      "SELECT position FROM projection_checkpoints WHERE name = 'deposit-totals'",
    ).get() as { position: number };
    expect(BigInt(saved.position)).toBe(head);
  });

  it("waitFor gives up with a 503 when the projection cannot reach the position in time", async () => {
    const { runner } = open(depositTotals());
    // Not started: nothing will ever apply, so the bounded wait must end.
    await deposit(store, "a", 1);
    await expect(runner.waitFor(1n, undefined, 50)).rejects.toMatchObject({
      code: "projection_lagging",
    });
  });
});
