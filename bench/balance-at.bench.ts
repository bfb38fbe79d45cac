/**
 * Balance-at-an-instant benchmark: `npm run bench:balance-at`. Prints ONE JSON object.
 *
 * Builds one account's ledger of BENCH_EVENTS events (default 1,000,000) straight into the
 * embedded event store in large appends, lets the billing projections catch up, then answers
 * `GET /api/billing/balance?at=` the way the controller does (BillingQueries.balanceAt) for
 * BENCH_QUERIES random instants, while a 1 ms timer measures how long the event loop is held
 * (what every other request would wait). Each answer is checked against the closed-form
 * balance. BENCH_REPLAY=1 (default) also times one full-stream replay, the old way of answering.
 * The probe starts BENCH_SETTLE_MS (default 1000) after the catch-up, past its garbage collection.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { BillingQueries } from "../src/billing/billing.queries.ts";
import { InferenceChargesProjection } from "../src/billing/inference-charges.projection.ts";
import { LedgerHistoryProjection } from "../src/billing/ledger-history.projection.ts";
import { replayLedgerUntil } from "../src/billing/ledger-replay.ts";
import { LedgerProjection } from "../src/billing/ledger.projection.ts";
import { repeatEvery } from "../src/common/repeat.ts";
import { SqliteEventStore } from "../src/event-store/sqlite-event-store.ts";
import { ProjectionRunner } from "../src/projections/projection-runner.ts";
import { ReadModelDatabase } from "../src/projections/read-model.database.ts";
import { appendLargeLedger, expectedAfter, instant } from "../test/billing/support/large-ledger.ts";

const EVENTS = Number(process.env.BENCH_EVENTS ?? 1_000_000);
const QUERIES = Number(process.env.BENCH_QUERIES ?? 200);
const REPLAY = process.env.BENCH_REPLAY !== "0";
const ACCOUNT = "acct_balance_at";

const root = mkdtempSync(join(tmpdir(), "modelpilot-bench-balance-at-"));
const store = new SqliteEventStore({ path: join(root, "events.sqlite") });
const readModels = new ReadModelDatabase(join(root, "read-models.sqlite"));
const runner = new ProjectionRunner(store, readModels, [
  new LedgerProjection(),
  new LedgerHistoryProjection(),
  new InferenceChargesProjection(),
]);
const queries = new BillingQueries(store, runner, readModels);

try {
  let started = performance.now();
  await appendLargeLedger(store, ACCOUNT, EVENTS);
  const appendSeconds = (performance.now() - started) / 1000;

  started = performance.now();
  await runner.start();
  await runner.waitFor(await store.headPosition(), undefined, 30 * 60_000);
  const projectSeconds = (performance.now() - started) / 1000;

  await new Promise((resolve) => setTimeout(resolve, Number(process.env.BENCH_SETTLE_MS ?? 1_000)));
  // The loop lag a concurrent request would see: how late a 1 ms timer fires, each time.
  const lags: number[] = [];
  let expected = performance.now() + 1;
  const probe = repeatEvery(1, () => {
    const now = performance.now();
    lags.push(Math.max(0, now - expected));
    expected = now + 1;
  });

  const latencies: number[] = [];
  let wrong = 0;
  for (let query = 0; query < QUERIES; query++) {
    const index = Math.floor(Math.random() * EVENTS);
    // Half-way between two events, so the answer is the balance after `index`.
    const at = new Date(instant(index).getTime() + 500);
    const before = performance.now();
    const answer = await queries.balanceAt(ACCOUNT, at);
    latencies.push(performance.now() - before);
    const want = expectedAfter(index, EVENTS);
    if (
      answer.balanceMicros !== want.balanceMicros ||
      answer.availableMicros !== want.balanceMicros - want.heldMicros
    ) wrong++;
    // Yield like separate HTTP requests would, so the probe can run between them.
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  probe.stop();

  let replayMs: number | null = null;
  if (REPLAY) {
    const before = performance.now();
    await replayLedgerUntil(store, ACCOUNT, new Date("2100-01-01T00:00:00.000Z"));
    replayMs = round(performance.now() - before);
  }

  latencies.sort((a, b) => a - b);
  console.log(JSON.stringify({
    bench: "balance-at",
    ledger_events: EVENTS,
    append_seconds: round(appendSeconds),
    projection_catch_up_seconds: round(projectSeconds),
    queries: QUERIES,
    wrong_answers: wrong,
    at_ms: {
      p50: round(percentile(latencies, 0.5)),
      p99: round(percentile(latencies, 0.99)),
      max: round(latencies[latencies.length - 1]),
    },
    event_loop_lag_ms: {
      p99: round(percentile(lags.sort((a, b) => a - b), 0.99)),
      max: round(lags[lags.length - 1] ?? 0),
    },
    full_replay_ms: replayMs,
  }));
} finally {
  await runner.stop();
  readModels.close();
  await store.close();
  rmSync(root, { recursive: true, force: true });
}

function percentile(sorted: number[], share: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * share))];
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}
