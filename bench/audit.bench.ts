/**
 * Audit tooling benchmark: `npm run bench:audit`. Prints ONE JSON object.
 *
 * Builds a store of BENCH_EVENTS (default 1,000,000) events shaped like real traffic — per
 * account a grant, then per-request holds settled or released with their InferenceCompleted /
 * InferenceFailed, and generation jobs with their holds and charges — written straight into a
 * fresh SQLite event store in one transaction (the fastest way to get a large, valid history;
 * the store's own tables, created by the adapter). Then times, in-process:
 * - `verify` (every invariant but read-models, one streaming pass), events/s; it must pass;
 * - `replay` of every read model to the head (src/audit/replay.ts), events/s.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { DatabaseSync } from "node:sqlite";
import { replayTo } from "../src/audit/replay.ts";
import { createEventStore } from "../src/event-store/create-event-store.ts";
import { SqliteEventStore } from "../src/event-store/sqlite-event-store.ts";
import { EVENT_SCHEMAS } from "../src/event-schemas.ts";
import { INVARIANT_NAMES } from "../src/cli/verify/findings.ts";
import { verifyStore } from "../src/cli/verify/verify.ts";

const EVENTS = Number(process.env.BENCH_EVENTS ?? 1_000_000);
const ACCOUNTS = 1_000;
const START = Date.parse("2026-01-01T00:00:00.000Z");

const root = mkdtempSync(join(tmpdir(), "modelpilot-bench-audit-"));

/** Writes `count` events; returns how long it took. */
function generate(path: string, count: number): number {
  new SqliteEventStore({ path, writer: "inline" }).close();
  const started = performance.now();
  const db = new DatabaseSync(path);
  const insert = db.prepare(
    "INSERT INTO events (id, stream, revision, type, data, metadata, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
  );
  const revisions = new Map<string, number>();
  let written = 0;
  let clock = START;
  const put = (stream: string, type: string, data: Record<string, unknown>, account: string) => {
    const revision = revisions.get(stream) ?? 0;
    revisions.set(stream, revision + 1);
    insert.run(
      `00000000-0000-4000-8000-${String(written).padStart(12, "0")}`,
      stream,
      revision,
      type,
      JSON.stringify(data),
      JSON.stringify({ accountId: account, actor: "system:bench" }),
      clock,
    );
    written++;
  };
  db.exec("BEGIN");
  for (let a = 0; a < ACCOUNTS; a++) {
    const accountId = `acct_bench${a}`;
    put(`ledger-${accountId}`, "CreditsGranted", {
      accountId,
      grantId: `seed${a}`,
      amountMicros: 1_000_000_000_000,
      reason: "bench",
      actor: "admin",
      at: new Date(clock).toISOString(),
    }, accountId);
  }
  for (let n = 0; written < count; n++) {
    clock += 10;
    const at = new Date(clock).toISOString();
    const accountId = `acct_bench${n % ACCOUNTS}`;
    const ledger = `ledger-${accountId}`;
    const expiresAt = new Date(clock + 900_000).toISOString();
    if (n % 20 === 19) {
      const jobId = `gen_bench${n}`;
      put(ledger, "CreditsReserved", {
        accountId,
        reservationId: jobId,
        amountMicros: 20_000,
        reference: `job:${jobId}`,
        expiresAt,
        at,
      }, accountId);
      put(`job-${jobId}`, "JobSubmitted", {
        jobId,
        accountId,
        kind: "image",
        model: "flux-dev",
        endpointId: "flux-dev",
        runpodJobId: `rp${n}`,
        mode: "run",
        priceMicros: 20_000,
        estimatedTimeMs: 1000,
        parameters: {},
        at,
      }, accountId);
      put(`job-${jobId}`, "JobCompleted", {
        jobId,
        runpodJobId: `rp${n}`,
        outputs: [],
        executionTimeMs: 5,
        delayTimeMs: 1,
        at,
      }, accountId);
      put(ledger, "CreditsCharged", {
        accountId,
        chargeId: jobId,
        amountMicros: 20_000,
        reference: `job:${jobId}`,
        kind: "image",
        reservationId: jobId,
        at,
      }, accountId);
      continue;
    }
    const inferenceId = `inf_bench${n}`;
    const failed = n % 10 === 9;
    put(ledger, "CreditsReserved", {
      accountId,
      reservationId: inferenceId,
      amountMicros: 10_000,
      reference: `inference:${inferenceId}`,
      model: "qwen3-8b",
      expiresAt,
      at,
    }, accountId);
    if (failed) {
      put(ledger, "ReservationReleased", {
        accountId,
        reservationId: inferenceId,
        amountMicros: 10_000,
        reason: "upstream_failed",
        at,
      }, accountId);
    } else {
      put(ledger, "CreditsCharged", {
        accountId,
        chargeId: inferenceId,
        amountMicros: 10_000,
        reference: `inference:${inferenceId}`,
        model: "qwen3-8b",
        kind: "inference",
        reservationId: inferenceId,
        at,
      }, accountId);
    }
    put(
      `inference-${inferenceId}`,
      failed ? "InferenceFailed" : "InferenceCompleted",
      inference(inferenceId, accountId, at, failed),
      accountId,
    );
  }
  db.exec("COMMIT");
  db.close();
  return (performance.now() - started) / 1000;
}

function inference(inferenceId: string, accountId: string, at: string, failed: boolean) {
  const facts = {
    inferenceId,
    requestId: `req_${inferenceId}`,
    accountId,
    keyId: null,
    endpoint: "chat.completions",
    model: "qwen3-8b",
    upstreamModel: "Qwen/Qwen3-8B",
    routeKind: "serverless",
    deploymentId: "qwen3-8b",
    stream: false,
    latencyMs: 10,
    timeToFirstTokenMs: 10,
    promptTokens: 5,
    completionTokens: 7,
    totalTokens: 12,
    usageEstimated: false,
    chargedMicros: failed ? 0 : 10_000,
    startedAt: at,
    finishedAt: at,
  };
  return failed
    ? {
      ...facts,
      status: 502,
      errorCode: "upstream_error",
      errorMessage: "bench",
      midStream: false,
    }
    : { ...facts, reservationId: inferenceId, finishReason: "stop", clientAborted: false };
}

try {
  const dataDir = join(root, "data");
  const path = join(dataDir, "events.sqlite");
  Deno.mkdirSync(dataDir, { mode: 0o700 });
  const generateSeconds = generate(path, EVENTS);
  const config = { dataDir, eventStoreSync: "normal", eventStoreWriter: "inline" } as const;
  const store = createEventStore(config, EVENT_SCHEMAS);
  const verified = await verifyStore(store, {
    invariants: new Set(INVARIANT_NAMES.filter((name) => name !== "read-models")),
    holdSweepMs: 60_000,
    meteringGraceMs: 75_000,
    settlementGraceMs: 15 * 60_000,
  });
  if (!verified.ok) throw new Error(`verify failed: ${JSON.stringify(verified.findings[0])}`);
  const replayStarted = performance.now();
  const replayed = await replayTo(store, dataDir, { position: await store.headPosition() });
  const replaySeconds = (performance.now() - replayStarted) / 1000;
  await store.close();
  console.log(JSON.stringify({
    events: verified.events,
    generate_seconds: Math.round(generateSeconds * 100) / 100,
    verify: {
      seconds: verified.seconds,
      events_per_second: verified.eventsPerSecond,
      invariants: verified.invariants.length,
      accounts: verified.accounts,
      ledger_keys: verified.ledgerKeys,
      target_events_per_second: 200_000,
    },
    replay: {
      seconds: Math.round(replaySeconds * 1000) / 1000,
      events_per_second: Math.round(Number(replayed.events ?? verified.events) / replaySeconds),
      read_models: replayed.path,
    },
  }));
} finally {
  if (!process.env.BENCH_KEEP) rmSync(root, { recursive: true, force: true });
  else console.error(`kept ${root}`);
}
