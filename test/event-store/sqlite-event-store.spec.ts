import { spawn } from "node:child_process";
import { type EventEmitter, once } from "node:events";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import {
  EventIdConflict,
  type EventStore,
  WrongExpectedVersion,
} from "../../src/event-store/event-store.port.ts";
import { EventSchemas } from "../../src/event-store/event-schemas.ts";
import { SqliteEventStore } from "../../src/event-store/sqlite-event-store.ts";
import { UpcastingEventStore } from "../../src/event-store/upcasting-event-store.ts";
import {
  collect,
  delay,
  describeEventStoreContract,
  event,
  rejectionOf,
  withTimeout,
} from "./event-store.contract.ts";

function temporaryDirectory(): string {
  return mkdtempSync(join(tmpdir(), "modelpilot-events-"));
}

for (const writer of ["inline", "thread"] as const) {
  describeEventStoreContract(`SQLite (temp file, ${writer} writer)`, async () => {
    const directory = temporaryDirectory();
    const path = join(directory, "events.sqlite");
    let current: EventStore = new SqliteEventStore({ path, pollIntervalMs: 10, writer });
    return {
      store: current,
      reopen: async () => {
        await current.close();
        current = new SqliteEventStore({ path, pollIntervalMs: 10, writer });
        return current;
      },
      cleanup: async () => {
        await current.close();
        rmSync(directory, { recursive: true, force: true });
      },
    };
  });
}

// The decorator every service store wears: with a schema registered (for a type the contract never
// writes) its subscription and read wrappers are in play, and must keep the port's behaviour.
describeEventStoreContract("SQLite behind UpcastingEventStore", async () => {
  const directory = temporaryDirectory();
  const path = join(directory, "events.sqlite");
  const schemas = new EventSchemas([
    { type: "ContractUnusedType", version: 2, upcasters: [{ from: 1, upcast: (data) => data }] },
  ]);
  const open = () =>
    new UpcastingEventStore(new SqliteEventStore({ path, pollIntervalMs: 10 }), schemas);
  let current: EventStore = open();
  return {
    store: current,
    reopen: async () => {
      await current.close();
      current = open();
      return current;
    },
    cleanup: async () => {
      await current.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
});

describe("SqliteEventStore", () => {
  let directory: string;
  let path: string;
  const stores: SqliteEventStore[] = [];

  function open(options: { sync?: "normal" | "full"; pollIntervalMs?: number } = {}) {
    const store = new SqliteEventStore({ path, ...options });
    stores.push(store);
    return store;
  }

  beforeEach(() => {
    directory = temporaryDirectory();
    path = join(directory, "events.sqlite");
  });

  afterEach(async () => {
    await Promise.all(stores.splice(0).map((store) => store.close()));
    rmSync(directory, { recursive: true, force: true });
  });

  describe("group commit", () => {
    it("commits 64 concurrent appends in far fewer transactions than appends", async () => {
      const store = open();
      const before = store.stats();
      const results = await Promise.all(
        Array.from({ length: 64 }, (_, index) => store.append(`load-${index}`, [event("Hit")])),
      );
      const after = store.stats();
      expect(after.appends - before.appends).toBe(64);
      expect(after.events - before.events).toBe(64);
      expect(after.transactions - before.transactions).toBeLessThanOrEqual(4);
      const positions = results.map((result) => result.position).sort(compareBigints);
      expect(new Set(positions).size).toBe(64);
    });

    it("checks expected revisions against earlier appends of the same batch", async () => {
      const store = open();
      const before = store.stats().transactions;
      const [first, second, stale] = await Promise.allSettled([
        store.append("order-1", [event("Placed")], { expectedRevision: "no_stream" }),
        store.append("order-1", [event("Paid")], { expectedRevision: 0n }),
        store.append("order-1", [event("Paid")], { expectedRevision: 0n }),
      ]);
      expect(store.stats().transactions - before).toBe(1);
      expect(first.status).toBe("fulfilled");
      expect(second.status).toBe("fulfilled");
      expect(stale.status).toBe("rejected");
      expect((stale as PromiseRejectedResult).reason).toBeInstanceOf(WrongExpectedVersion);
      expect((stale as PromiseRejectedResult).reason.actual).toBe(1n);
      expect((await store.readStream("order-1")).map((stored) => stored.type)).toEqual([
        "Placed",
        "Paid",
      ]);
    });

    it("settles a batch committed on the worker thread with the same results and refusals", async () => {
      const store = new SqliteEventStore({ path, writer: "thread" });
      stores.push(store);
      const opened = await store.append("order-1", [event("Placed")]);
      // More appends than the event loop commits itself, so the worker thread commits them.
      const [stale, ...fresh] = await Promise.allSettled([
        store.append("order-1", [event("Paid")], { expectedRevision: 5n }),
        ...Array.from({ length: 11 }, (_, index) => store.append(`cart-${index}`, [event("Hit")])),
      ]);
      expect((stale as PromiseRejectedResult).reason).toBeInstanceOf(WrongExpectedVersion);
      expect((stale as PromiseRejectedResult).reason.expected).toBe(5n);
      expect((stale as PromiseRejectedResult).reason.actual).toBe(0n);
      const positions = fresh.map((result) =>
        (result as PromiseFulfilledResult<{ position: bigint; nextExpectedRevision: bigint }>)
          .value
      );
      expect(positions.map((result) => result.nextExpectedRevision)).toEqual(
        Array.from({ length: 11 }, () => 0n),
      );
      expect(positions.map((result) => result.position).sort(compareBigints)).toEqual(
        Array.from({ length: 11 }, (_, index) => opened.position + 1n + BigInt(index)),
      );
    });

    it("rejects only the failing append of a batch; the rest commit", async () => {
      const store = open();
      await store.append("taken", [event("Opened")]);
      const attempts = await Promise.allSettled([
        store.append("free-1", [event("Opened")]),
        store.append("taken", [event("Opened")], { expectedRevision: "no_stream" }),
        store.append("free-2", [event("Opened")]),
        store.append("bad", [{ id: crypto.randomUUID(), type: "Bad", data: { n: 1n } }]),
      ]);
      expect(attempts.map((attempt) => attempt.status)).toEqual([
        "fulfilled",
        "rejected",
        "fulfilled",
        "rejected",
      ]);
      expect(await store.readStream("free-1")).toHaveLength(1);
      expect(await store.readStream("free-2")).toHaveLength(1);
      expect(await store.readStream("bad")).toEqual([]);
    });
  });

  describe("event id conflicts", () => {
    it("refuses a partial overlap even with expected revision any", async () => {
      const store = open();
      const stored = event("Opened");
      await store.append("s-1", [stored]);
      const failure = await rejectionOf(store.append("s-1", [stored, event("Changed")]));
      expect(failure).toBeInstanceOf(EventIdConflict);
      expect(await store.readStream("s-1")).toHaveLength(1);
    });

    it("refuses an id already stored in another stream", async () => {
      const store = open();
      const stored = event("Opened");
      await store.append("s-1", [stored]);
      expect(await rejectionOf(store.append("s-2", [stored]))).toBeInstanceOf(EventIdConflict);
      expect(await store.readStream("s-2")).toEqual([]);
    });

    it("refuses an id repeated within one append", async () => {
      const store = open();
      const repeated = event("Opened");
      expect(await rejectionOf(store.append("s-1", [repeated, repeated]))).toBeInstanceOf(
        EventIdConflict,
      );
    });
  });

  it("keeps the file in WAL mode (with sync=full too)", async () => {
    await open({ sync: "full" }).append("s", [event("Opened")]);
    await Promise.all(stores.splice(0).map((store) => store.close()));
    const db = new DatabaseSync(path);
    expect((db.prepare("PRAGMA journal_mode").get() as { journal_mode: string }).journal_mode)
      .toBe("wal");
    db.close();
  });

  it("keeps the WAL bounded with the thread writer, whose worker checkpoints it", async () => {
    const store = new SqliteEventStore({ path, writer: "thread" });
    stores.push(store);
    // ~130 MB of WAL if nothing checkpointed; ~50 append batches per checkpoint otherwise.
    for (let append = 0; append < 300; append++) {
      await store.append("bulk", Array.from({ length: 100 }, () => event("Filled")));
    }
    await delay(200);
    expect(statSync(`${path}-wal`).size).toBeLessThan(60 * 1024 * 1024);
    expect(await store.headPosition()).toBe(30_000n);
  });

  it("flushes queued appends on close", async () => {
    const store = new SqliteEventStore({ path });
    const pending = store.append("s", [event("Opened")]);
    await store.close();
    await pending;
    const reopened = open();
    expect(await reopened.readStream("s")).toHaveLength(1);
  });

  describe("two instances on one file (as two app processes would)", () => {
    it("a subscription on one instance sees appends made through the other", async () => {
      const writer = open();
      const reader = open({ pollIntervalMs: 10 });
      const subscription = reader.subscribeToAll({ from: 0n });
      const received = collect(subscription, 3);
      await delay(30);
      await writer.append("shared-1", [event("One"), event("Two")]);
      await writer.append("shared-2", [event("Three")]);
      const events = await withTimeout(received, 3000, "cross-instance delivery");
      expect(events.map((stored) => stored.type)).toEqual(["One", "Two", "Three"]);
      await subscription.close();
    });

    it("re-reads revisions inside the transaction, so only one instance wins a race", async () => {
      const first = open();
      const second = open();
      await first.append("contested", [event("Opened")]);
      expect(await second.readStream("contested")).toHaveLength(1);
      const attempts = await Promise.allSettled([
        first.append("contested", [event("ByFirst")], { expectedRevision: 0n }),
        second.append("contested", [event("BySecond")], { expectedRevision: 0n }),
      ]);
      expect(attempts.filter((attempt) => attempt.status === "fulfilled")).toHaveLength(1);
      expect(await first.readStream("contested")).toHaveLength(2);
    });
  });

  it.each(["inline", "thread"])(
    "keeps every acknowledged append of a writer process killed with SIGKILL (%s writer)",
    async (writer) => {
      const script = new URL("./support/append-writer.ts", import.meta.url).pathname;
      const observer = open({ pollIntervalMs: 10 });
      const observed = new Set<string>();
      const subscription = observer.subscribeToAll({ from: 0n });
      const observing = (async () => {
        for await (const stored of subscription) observed.add(stored.id);
      })();

      const child = spawn(process.execPath, ["run", "-A", script, path, "48", writer], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      let output = "";
      let errors = "";
      child.stdout.setEncoding("utf8").on("data", (chunk: string) => output += chunk);
      child.stderr.setEncoding("utf8").on("data", (chunk: string) => errors += chunk);
      const exited = once(child as unknown as EventEmitter, "exit").then(([_code, signal]) =>
        signal as string | null
      );
      await withTimeout(
        (async () => {
          while (!output.includes("ready\n")) await delay(10);
        })(),
        20_000,
        `the writer process to start (stderr: ${errors})`,
      );
      // Let it append for a while, then kill it mid-flight.
      const started = Date.now();
      while (Date.now() - started < 400 || output.split("\n").length < 200) await delay(20);
      child.kill("SIGKILL");
      expect(await exited).toBe("SIGKILL");

      const acknowledged = output.split("\n").slice(1).filter((line) => /^\S+ \d+$/.test(line))
        .map((line) => {
          const [id, position] = line.split(" ");
          return { id, position: BigInt(position) };
        });
      expect(acknowledged.length).toBeGreaterThan(100);

      const reopened = open();
      const all = await reopened.readAll();
      const stored = new Map(all.map((recorded) => [recorded.id, recorded.position]));
      const missing = acknowledged.filter((ack) => stored.get(ack.id) !== ack.position);
      expect(missing).toEqual([]);
      // Gap-free and monotonic: positions are exactly 1..n.
      expect(all.map((recorded) => recorded.position)).toEqual(
        all.map((_, index) => BigInt(index + 1)),
      );
      // Per-stream revisions are gap-free too.
      const revisionsByStream = new Map<string, bigint[]>();
      for (const recorded of all) {
        const list = revisionsByStream.get(recorded.stream) ?? [];
        list.push(recorded.revision);
        revisionsByStream.set(recorded.stream, list);
      }
      for (const revisions of revisionsByStream.values()) {
        expect(revisions).toEqual(revisions.map((_, index) => BigInt(index)));
      }

      // The observer saw the other process's appends live, through polling.
      await delay(100);
      await subscription.close();
      await observing;
      expect(observed.size).toBeGreaterThan(0);
      for (const id of observed) expect(stored.has(id)).toBe(true);
      console.log(
        `kill -9 test (${writer} writer): ${acknowledged.length} acknowledged, ` +
          `${all.length} stored, ${observed.size} seen live by another instance`,
      );
    },
  );
});

function compareBigints(left: bigint, right: bigint): number {
  return left < right ? -1 : left > right ? 1 : 0;
}
