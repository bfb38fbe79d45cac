/**
 * Event store benchmark: `npm run bench:events`. Prints ONE JSON object.
 *
 * - append throughput with 1 writer (sequential awaits) and 64 concurrent writers (each awaiting
 *   its own single-event append), durable (acknowledged after COMMIT), default sync=normal;
 * - the same across processes sharing one store file (`processes`): 1 process against 2, with
 *   64 writers split between them and with 1 writer each (bench/support/append-process.ts);
 * - read-all throughput paging through every event, and the bulk scan's (scanAll);
 * - projection rebuild over >= 1,000,000 events through the ProjectionRunner;
 * - startup_ms: from spawning `deno run -A src/main.ts` (WORKERS=1) to GET /health answering 200.
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
import { createInterface } from "node:readline";
import type { SQLInputValue } from "node:sqlite";
import type { NewEvent } from "../src/event-store/event-store.port.ts";
import { SqliteEventStore } from "../src/event-store/sqlite-event-store.ts";
import { MultiRowInsert } from "../src/projections/multi-row-insert.ts";
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
const PROCESS_COUNTS = [1, 2];
const PROCESS_EVENTS_64_WRITERS = 32_000;
const PROCESS_EVENTS_PER_LONE_WRITER = 4_000;

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

/**
 * `processes` processes append to one fresh store file at once, `writers` writers in all split
 * evenly between them, `events` in all; the clock runs from the start signal to the last
 * process's finish. Checks that the file holds exactly the events appended.
 */
async function processesRun(
  processes: number,
  writers: number,
  events: number,
): Promise<{ eventsPerSecond: number; perTxn: number }> {
  const { store, path } = freshStore();
  await store.close();
  const children = Array.from({ length: processes }, (_, index) => {
    const child = spawn(process.execPath, [
      "run",
      "-A",
      "bench/support/append-process.ts",
      path,
      `p${index}`,
      String(writers / processes),
      String(events / writers),
      WRITER,
    ], { stdio: ["pipe", "pipe", "inherit"] });
    const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
    const next = async () => JSON.parse((await lines.next()).value as string);
    return { child, next };
  });
  for (const child of children) await child.next();
  const started = performance.now();
  for (const { child } of children) child.stdin!.write("go\n");
  const reports = await Promise.all(
    children.map((child) => child.next() as Promise<{ transactions: number; appends: number }>),
  );
  const seconds = (performance.now() - started) / 1000;
  const check = new SqliteEventStore({ path });
  const stored = await check.headPosition();
  const distinct = (await check.readAll()).length;
  await check.close();
  if (stored !== BigInt(events) || distinct !== events) {
    throw new Error(`${processes} processes stored ${stored} (${distinct}), expected ${events}`);
  }
  const transactions = reports.reduce((sum, report) => sum + report.transactions, 0);
  return { eventsPerSecond: events / seconds, perTxn: events / transactions };
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

/** The bulk scan whole-history passes use (verify, replay, rebuild, export). */
async function scanAllRun(store: SqliteEventStore, total: number): Promise<number> {
  const started = performance.now();
  let read = 0;
  for await (const page of store.scanAll()) read += page.length;
  const seconds = (performance.now() - started) / 1000;
  if (read !== total) throw new Error(`scanned ${read} events, expected ${total}`);
  return read / seconds;
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

/**
 * A balance-per-account read model: one upsert per CreditsCharged into a per-account table, the
 * shape of billing-request-counts (one upsert per InferenceCompleted into a per-account-day
 * table). It applies a batch as that projection does, through MultiRowInsert: one upsert row per
 * event, nothing summed in memory first, so SQLite still does the 1,000,000 upserts.
 */
function balancesProjection(): Projection {
  const upsert = new MultiRowInsert(
    "INSERT INTO bench_balances (account_id, charged_micros, charges)",
    "(?, ?, 1)",
    `ON CONFLICT (account_id) DO UPDATE SET
       charged_micros = charged_micros + excluded.charged_micros, charges = charges + 1`,
  );
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
      this.applyBatch!([event], db);
    },
    applyBatch(events, db) {
      const values: SQLInputValue[] = [];
      for (const event of events) {
        const data = event.data as { accountId: string; amountMicros: number };
        values.push(data.accountId, data.amountMicros);
      }
      upsert.run(db, values);
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
    env: { ...process.env, PORT: String(port), HOST: "127.0.0.1", DATA_DIR: dataDir, WORKERS: "1" },
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

  const acrossProcesses = new Map<number, { writers64: number[]; loneWriters: number[] }>(
    PROCESS_COUNTS.map((count) => [count, { writers64: [], loneWriters: [] }]),
  );
  const perTxnAcrossProcesses = new Map<number, number[]>();
  for (let run = 0; run < RUNS; run++) {
    for (const count of PROCESS_COUNTS) {
      const shared = await processesRun(count, CONCURRENT_WRITERS, PROCESS_EVENTS_64_WRITERS);
      acrossProcesses.get(count)!.writers64.push(shared.eventsPerSecond);
      perTxnAcrossProcesses.set(count, [
        ...(perTxnAcrossProcesses.get(count) ?? []),
        shared.perTxn,
      ]);
      const lone = await processesRun(count, count, count * PROCESS_EVENTS_PER_LONE_WRITER);
      acrossProcesses.get(count)!.loneWriters.push(lone.eventsPerSecond);
    }
  }

  const { store, path } = freshStore();
  const seedSeconds = await seed(store, REBUILD_EVENTS);
  const readAll: number[] = [];
  const scanAll: number[] = [];
  const rebuildSeconds: number[] = [];
  // The rebuild dominates; read-all runs every time, the rebuild a bounded number of times.
  for (let run = 0; run < Math.min(RUNS, 3); run++) {
    readAll.push(await readAllRun(store, REBUILD_EVENTS));
    scanAll.push(await scanAllRun(store, REBUILD_EVENTS));
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
    processes: Object.fromEntries(
      [...acrossProcesses].map(([count, samples]) => [count, {
        append_64_writers_events_per_s: Math.round(median(samples.writers64)),
        append_64_writers_appends_per_transaction: Number(
          median(perTxnAcrossProcesses.get(count)!).toFixed(1),
        ),
        append_1_writer_each_events_per_s: Math.round(median(samples.loneWriters)),
        samples: {
          append_64_writers_events_per_s: samples.writers64.map(Math.round),
          append_1_writer_each_events_per_s: samples.loneWriters.map(Math.round),
        },
      }]),
    ),
    seed_events: REBUILD_EVENTS,
    seed_seconds: Number(seedSeconds.toFixed(2)),
    read_all_events_per_s: Math.round(median(readAll)),
    scan_all_events_per_s: Math.round(median(scanAll)),
    rebuild_events: REBUILD_EVENTS,
    rebuild_seconds: Number(rebuildMedian.toFixed(2)),
    rebuild_events_per_s: Math.round(REBUILD_EVENTS / rebuildMedian),
    startup_ms: startups.length > 0 ? Math.round(median(startups)) : null,
    ...(startupReason ? { startup_error: startupReason } : {}),
    samples: {
      append_1_writer_events_per_s: singleWriter.map(Math.round),
      append_64_writers_events_per_s: concurrent.map((c) => Math.round(c.eventsPerSecond)),
      read_all_events_per_s: readAll.map(Math.round),
      scan_all_events_per_s: scanAll.map(Math.round),
      rebuild_seconds: rebuildSeconds.map((seconds) => Number(seconds.toFixed(2))),
      startup_ms: startups.map(Math.round),
    },
    targets: {
      append_1_writer_events_per_s: ">= 15000",
      append_64_writers_events_per_s: ">= 50000",
      rebuild_events_per_s: ">= 250000",
      rebuild_seconds: "<= 4 (1M events)",
    },
  };
  console.log(JSON.stringify(result, null, 2));
} finally {
  rmSync(root, { recursive: true, force: true });
}
