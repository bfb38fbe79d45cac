/**
 * Event store benchmark: `npm run bench:events`. Prints ONE JSON object.
 *
 * - append throughput with 1 writer (sequential awaits) and 64 concurrent writers (each awaiting
 *   its own single-event append), durable (acknowledged after COMMIT), default sync=normal;
 * - read-all throughput paging through every event;
 * - projection rebuild over >= 1,000,000 events through the ProjectionRunner;
 * - startup_ms: from spawning `deno run -A src/main.ts` to GET /health answering 200.
 *
 * Options (environment): BENCH_EVENTS (rebuild size, default 1000000), BENCH_RUNS (default 3).
 * All data lives in a temp directory that is removed afterwards.
 */
import { spawn } from "node:child_process";
import type { EventEmitter } from "node:events";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DatabaseSync, StatementSync } from "node:sqlite";
import type { NewEvent } from "../src/event-store/event-store.port.ts";
import { SqliteEventStore } from "../src/event-store/sqlite-event-store.ts";
import type { Projection } from "../src/projections/projection.ts";
import { ProjectionRunner } from "../src/projections/projection-runner.ts";
import { ReadModelDatabase } from "../src/projections/read-model.database.ts";

const REBUILD_EVENTS = Number(process.env.BENCH_EVENTS ?? 1_000_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
/** The service commits on a worker thread (EVENT_STORE_WRITER=thread); BENCH_WRITER=inline compares. */
const WRITER = process.env.BENCH_WRITER === "inline" ? "inline" : "thread";
const SINGLE_WRITER_EVENTS = 5_000;
const CONCURRENT_WRITERS = 64;
const CONCURRENT_EVENTS = 64_000;
const SEED_BATCH = 1_000;

const root = mkdtempSync(join(tmpdir(), "modelpilot-bench-events-"));
let runCounter = 0;

function freshStore(): { store: SqliteEventStore; path: string } {
  const path = join(root, `events-${runCounter++}.sqlite`);
  return { store: new SqliteEventStore({ path, writer: WRITER }), path };
}

function charge(accountIndex: number, amount: number): NewEvent {
  return {
    id: randomUUID(),
    type: "CreditsCharged",
    data: { accountId: `acct_${accountIndex}`, amountMicros: amount },
    metadata: { actor: "system:bench", correlationId: randomUUID() },
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((left, right) => left - right);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

async function singleWriterRun(): Promise<number> {
  const { store } = freshStore();
  const started = performance.now();
  for (let index = 0; index < SINGLE_WRITER_EVENTS; index++) {
    await store.append(`account-${index % 100}`, [charge(index % 100, 1)]);
  }
  const seconds = (performance.now() - started) / 1000;
  await store.close();
  return SINGLE_WRITER_EVENTS / seconds;
}

async function concurrentWritersRun(): Promise<{ eventsPerSecond: number; perTxn: number }> {
  const { store } = freshStore();
  const perWriter = CONCURRENT_EVENTS / CONCURRENT_WRITERS;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENT_WRITERS }, async (_, writer) => {
      for (let index = 0; index < perWriter; index++) {
        await store.append(`account-${writer}`, [charge(writer, 1)]);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const stats = store.stats();
  await store.close();
  return {
    eventsPerSecond: CONCURRENT_EVENTS / seconds,
    perTxn: stats.appends / stats.transactions,
  };
}

/** Seeds `count` events in batches of SEED_BATCH, a few batches in flight (group commit). */
async function seed(store: SqliteEventStore, count: number): Promise<number> {
  const started = performance.now();
  const batches = Math.ceil(count / SEED_BATCH);
  let next = 0;
  await Promise.all(Array.from({ length: 4 }, async () => {
    while (next < batches) {
      const batch = next++;
      const size = Math.min(SEED_BATCH, count - batch * SEED_BATCH);
      const events = Array.from(
        { length: size },
        (_, index) => charge((batch * SEED_BATCH + index) % 10_000, 1 + (index % 7)),
      );
      await store.append(`account-${batch % 10_000}`, events);
    }
  }));
  return (performance.now() - started) / 1000;
}

async function readAllRun(store: SqliteEventStore, total: number): Promise<number> {
  const started = performance.now();
  let from = 0n;
  let read = 0;
  for (;;) {
    const page = await store.readAll({ from, maxCount: 5_000 });
    if (page.length === 0) break;
    read += page.length;
    from = page[page.length - 1].position;
  }
  const seconds = (performance.now() - started) / 1000;
  if (read !== total) throw new Error(`read ${read} events, expected ${total}`);
  return read / seconds;
}

/** A balance-per-account read model, the shape of billing's real one. */
function balancesProjection(): Projection {
  const statements = new WeakMap<DatabaseSync, StatementSync>();
  return {
    name: "bench_balances",
    version: 1,
    filter: { eventTypes: ["CreditsCharged"] },
    setup(db) {
      db.exec(`CREATE TABLE IF NOT EXISTS bench_balances (
        account_id TEXT PRIMARY KEY, charged_micros INTEGER NOT NULL, charges INTEGER NOT NULL
      ) WITHOUT ROWID`);
    },
    reset(db) {
      db.exec("DELETE FROM bench_balances");
    },
    apply(event, db) {
      let upsert = statements.get(db);
      if (!upsert) {
        upsert = db.prepare(
          `INSERT INTO bench_balances (account_id, charged_micros, charges) VALUES (?, ?, 1)
           ON CONFLICT (account_id) DO UPDATE SET
             charged_micros = charged_micros + excluded.charged_micros, charges = charges + 1`,
        );
        statements.set(db, upsert);
      }
      const data = event.data as { accountId: string; amountMicros: number };
      upsert.run(data.accountId, data.amountMicros);
    },
  };
}

async function rebuildRun(store: SqliteEventStore, total: number): Promise<number> {
  const readModels = new ReadModelDatabase(join(root, `read-${runCounter++}.sqlite`));
  const projection = balancesProjection();
  const runner = new ProjectionRunner(store, readModels, [projection], { batchSize: 5_000 });
  const started = performance.now();
  await runner.rebuild(projection.name);
  const seconds = (performance.now() - started) / 1000;
  const { charges } = readModels.db.prepare(
    "SELECT sum(charges) AS charges FROM bench_balances",
  ).get() as { charges: number };
  await runner.stop();
  readModels.close();
  if (charges !== total) throw new Error(`rebuild applied ${charges} events, expected ${total}`);
  return seconds;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    // @types/node under Deno loses EventEmitter methods on these classes; they exist at runtime.
    (server as unknown as EventEmitter).once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function startupRun(): Promise<{ ms: number | null; reason?: string }> {
  const port = await freePort();
  const dataDir = mkdtempSync(join(root, "app-"));
  const started = performance.now();
  const child = spawn(process.execPath, ["run", "-A", "src/main.ts"], {
    env: { ...process.env, PORT: String(port), HOST: "127.0.0.1", DATA_DIR: dataDir },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => stderr += chunk);
  let exitCode: number | null = null;
  const events = child as unknown as EventEmitter;
  events.on("exit", (code: number | null) => exitCode = code ?? -1);
  try {
    while (performance.now() - started < 30_000) {
      if (exitCode !== null) {
        return { ms: null, reason: `app exited with ${exitCode}: ${stderr.trim().slice(-300)}` };
      }
      try {
        const response = await fetch(`http://127.0.0.1:${port}/health`);
        await response.body?.cancel();
        if (response.status === 200) return { ms: performance.now() - started };
      } catch {
        // Not listening yet.
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return { ms: null, reason: "GET /health did not answer 200 within 30 s" };
  } finally {
    child.kill("SIGTERM");
    await new Promise((resolve) => {
      if (exitCode !== null) return resolve(undefined);
      events.once("exit", resolve);
      setTimeout(() => {
        child.kill("SIGKILL");
        resolve(undefined);
      }, 5_000);
    });
  }
}

try {
  const singleWriter: number[] = [];
  const concurrent: { eventsPerSecond: number; perTxn: number }[] = [];
  for (let run = 0; run < RUNS; run++) {
    singleWriter.push(await singleWriterRun());
    concurrent.push(await concurrentWritersRun());
  }

  const { store, path } = freshStore();
  const seedSeconds = await seed(store, REBUILD_EVENTS);
  const readAll: number[] = [];
  const rebuildSeconds: number[] = [];
  // The rebuild dominates; read-all runs every time, the rebuild a bounded number of times.
  for (let run = 0; run < Math.min(RUNS, 3); run++) {
    readAll.push(await readAllRun(store, REBUILD_EVENTS));
    rebuildSeconds.push(await rebuildRun(store, REBUILD_EVENTS));
  }
  await store.close();

  const startups: number[] = [];
  let startupReason: string | undefined;
  for (let run = 0; run < RUNS; run++) {
    const startup = await startupRun();
    if (startup.ms === null) {
      startupReason = startup.reason;
      break;
    }
    startups.push(startup.ms);
  }

  const rebuildMedian = median(rebuildSeconds);
  const result = {
    benchmark: "events",
    runs: RUNS,
    store: { adapter: "sqlite", sync: "normal", writer: WRITER, file: path.replace(root, "$TMP") },
    append_1_writer_events_per_s: Math.round(median(singleWriter)),
    append_64_writers_events_per_s: Math.round(median(concurrent.map((c) => c.eventsPerSecond))),
    append_64_writers_appends_per_transaction: Number(
      median(concurrent.map((c) => c.perTxn)).toFixed(1),
    ),
    seed_events: REBUILD_EVENTS,
    seed_seconds: Number(seedSeconds.toFixed(2)),
    read_all_events_per_s: Math.round(median(readAll)),
    rebuild_events: REBUILD_EVENTS,
    rebuild_seconds: Number(rebuildMedian.toFixed(2)),
    rebuild_events_per_s: Math.round(REBUILD_EVENTS / rebuildMedian),
    startup_ms: startups.length > 0 ? Math.round(median(startups)) : null,
    ...(startupReason ? { startup_error: startupReason } : {}),
    samples: {
      append_1_writer_events_per_s: singleWriter.map(Math.round),
      append_64_writers_events_per_s: concurrent.map((c) => Math.round(c.eventsPerSecond)),
      read_all_events_per_s: readAll.map(Math.round),
      rebuild_seconds: rebuildSeconds.map((seconds) => Number(seconds.toFixed(2))),
      startup_ms: startups.map(Math.round),
    },
    targets: {
      append_64_writers_events_per_s: ">= 20000",
      rebuild_events_per_s: ">= 100000",
      rebuild_seconds: "< 15 (1M events)",
    },
  };
  console.log(JSON.stringify(result, null, 2));
} finally {
  rmSync(root, { recursive: true, force: true });
}
