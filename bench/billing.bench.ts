/**
 * Billing benchmark: `npm run bench:billing`. Prints ONE JSON object.
 *
 * Charges per second through LedgerService (decide + durable append, acknowledged after COMMIT
 * on the embedded SQLite store, sync=normal) with 64 concurrent clients, each awaiting its own
 * charge before sending the next:
 * - `one_account`: every client charges the same account (the hot-account case);
 * - `thousand_accounts`: clients charge 1,000 accounts round-robin.
 * Also checks the books: every charge acknowledged is in the stream and the balances add up.
 *
 * Options (environment): BENCH_CHARGES per scenario (default 40000), BENCH_RUNS (default 3,
 * the median is reported), BENCH_SYNC (normal | full).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { LedgerService } from "../src/billing/ledger.service.ts";
import { ledgerStream } from "../src/billing/ledger.events.ts";
import { systemClock } from "../src/common/clock.ts";
import { SqliteEventStore } from "../src/event-store/sqlite-event-store.ts";

const CHARGES = Number(process.env.BENCH_CHARGES ?? 40_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SYNC = process.env.BENCH_SYNC === "full" ? "full" : "normal";
/** The service commits on a worker thread (EVENT_STORE_WRITER=thread); BENCH_WRITER=inline compares. */
const WRITER = process.env.BENCH_WRITER === "inline" ? "inline" : "thread";
const CLIENTS = 64;
const PRICE_MICROS = 10_000;

const root = mkdtempSync(join(tmpdir(), "modelpilot-bench-billing-"));
let runCounter = 0;

interface RunResult {
  charges_per_second: number;
  charges: number;
  seconds: number;
  appends_per_transaction: number;
  events_per_transaction: number;
  charges_per_ledger_batch: number;
}

async function run(accounts: number): Promise<RunResult> {
  const store = new SqliteEventStore({
    path: join(root, `events-${runCounter++}.sqlite`),
    sync: SYNC,
    writer: WRITER,
  });
  const ledger = new LedgerService(store, systemClock, { reservationTtlSeconds: 900 });
  const accountIds = Array.from({ length: accounts }, (_, index) => `acct_${runCounter}_${index}`);
  await Promise.all(accountIds.map((accountId) =>
    ledger.grant(accountId, {
      grantId: "seed",
      amountMicros: Math.ceil(CHARGES / accounts) * PRICE_MICROS,
      reason: "bench",
      actor: "system:bench",
    })
  ));
  const statsBefore = store.stats();
  const ledgerBefore = ledger.stats();
  let next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: CLIENTS }, async () => {
    for (;;) {
      const index = next++;
      if (index >= CHARGES) return;
      await ledger.charge(accountIds[index % accounts], {
        chargeId: `req_${index}`,
        amountMicros: PRICE_MICROS,
        reference: `req_${index}`,
        model: "qwen3-8b",
      });
    }
  }));
  const seconds = (performance.now() - started) / 1000;
  const statsAfter = store.stats();
  const ledgerAfter = ledger.stats();

  // The books must balance: every account spent exactly its seed, one event per charge.
  let charged = 0;
  for (const accountId of accountIds) {
    const balance = await ledger.balance(accountId);
    if (balance.balanceMicros !== 0) {
      throw new Error(`${accountId} ends at ${balance.balanceMicros}, not 0`);
    }
    charged += (await store.readStream(ledgerStream(accountId))).filter((event) =>
      event.type === "CreditsCharged"
    )
      .length;
  }
  if (charged !== CHARGES) {
    throw new Error(`expected ${CHARGES} charges in the ledger, found ${charged}`);
  }
  await store.close();
  const transactions = statsAfter.transactions - statsBefore.transactions;
  return {
    charges_per_second: Math.round(CHARGES / seconds),
    charges: CHARGES,
    seconds: Number(seconds.toFixed(3)),
    appends_per_transaction: Number(
      ((statsAfter.appends - statsBefore.appends) / transactions).toFixed(1),
    ),
    events_per_transaction: Number(
      ((statsAfter.events - statsBefore.events) / transactions).toFixed(1),
    ),
    charges_per_ledger_batch: Number(
      ((ledgerAfter.commands - ledgerBefore.commands) /
        (ledgerAfter.batches - ledgerBefore.batches))
        .toFixed(1),
    ),
  };
}

function median(results: RunResult[]): RunResult {
  const sorted = [...results].sort((a, b) => a.charges_per_second - b.charges_per_second);
  return sorted[Math.floor(sorted.length / 2)];
}

try {
  const one: RunResult[] = [];
  const thousand: RunResult[] = [];
  for (let index = 0; index < RUNS; index++) {
    one.push(await run(1));
    thousand.push(await run(1_000));
  }
  console.log(JSON.stringify(
    {
      bench: "billing",
      durable: true,
      sync: SYNC,
      writer: WRITER,
      concurrent_clients: CLIENTS,
      runs: RUNS,
      one_account: median(one),
      thousand_accounts: median(thousand),
      all_runs: {
        one_account: one.map((result) => result.charges_per_second),
        thousand_accounts: thousand.map((result) => result.charges_per_second),
      },
    },
    null,
    2,
  ));
} finally {
  rmSync(root, { recursive: true, force: true });
}
