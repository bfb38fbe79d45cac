import type { EventStore, RecordedEvent } from "../../event-store/event-store.port.ts";
import type { Progress } from "../progress.ts";
import { forEachPage } from "../read-all.ts";
import { type Finding, Findings, type InvariantName, laterIso } from "./findings.ts";
import { LedgerChecks } from "./ledger-checks.ts";
import { isDeploymentEvent, MeteringCheck } from "./metering-check.ts";
import { ReadModelCheck } from "./read-model-check.ts";
import { WorkChecks } from "./work-checks.ts";

export interface VerifyOptions {
  invariants: ReadonlySet<InvariantName>;
  /** The end of history for time-based rules; default the latest business time in the store. */
  now?: string;
  /** The hold-expiry sweep interval: a hold may stay open this long past its expiry. */
  holdSweepMs: number;
  /** How far pod metering may lag behind a still-billed pod. */
  meteringGraceMs: number;
  /** Work that ended this recently may still be settling (settlements retry, reconcilers run). */
  settlementGraceMs: number;
  /** The live read-model file to compare with (read-models); undefined: skipped. */
  liveReadModels?: string;
  progress?: Progress;
  pageSize?: number;
}

export interface VerifyReport {
  ok: boolean;
  events: number;
  head: string;
  now: string;
  seconds: number;
  eventsPerSecond: number;
  invariants: { name: InvariantName; violations: number }[];
  /** Invariants asked for but not checked, with why. */
  skipped: { name: InvariantName; reason: string }[];
  accounts: number;
  ledgerKeys: number;
  totalBalanceMicros: number;
  readModelTables?: number;
  findings: Finding[];
}

const LEDGER_PREFIX = "ledger-";

/**
 * Checks every invariant over the whole history in ONE streaming pass over `readAll` pages:
 * per event one switch and O(1) Map work, state keyed by ids; the joins between work and money
 * (a completed job and its charge) run once at the end over those Maps.
 */
export async function verifyStore(
  store: EventStore,
  options: VerifyOptions,
): Promise<VerifyReport> {
  const started = performance.now();
  const findings = new Findings(options.invariants);
  const ledger = new LedgerChecks(findings);
  const work = new WorkChecks(findings, ledger.keys);
  const metering = findings.on("pod-minutes") ? new MeteringCheck(findings) : undefined;
  const skipped: VerifyReport["skipped"] = [];
  let readModels: ReadModelCheck | undefined;
  if (findings.on("read-models")) {
    if (options.liveReadModels) readModels = new ReadModelCheck(findings, options.liveReadModels);
    else skipped.push({ name: "read-models", reason: "no live read-model file to compare with" });
  }
  const head = await store.headPosition();
  let events = 0;
  let latest = "";
  let last: RecordedEvent | undefined;

  // An event's data is parsed only when a check reads it (no check reads an InferenceFailed).
  const apply = (event: RecordedEvent) => {
    if (event.stream.startsWith(LEDGER_PREFIX)) {
      ledger.apply(event);
      latest = laterIso(latest, event.data.at);
      return;
    }
    switch (event.type) {
      case "JobSubmitted":
      case "JobCompleted":
      case "JobFailed":
      case "JobCancelled":
        work.apply(event);
        latest = laterIso(latest, event.data.at);
        return;
      case "InferenceCompleted":
        work.apply(event);
        latest = laterIso(latest, event.data.finishedAt);
        return;
      case "RealtimeResponseCompleted":
        work.apply(event);
        latest = laterIso(latest, event.data.completedAt);
        return;
    }
    // Their times count for "now" whichever invariants run, so a report never depends on them.
    if (isDeploymentEvent(event.type)) {
      metering?.apply(event);
      latest = laterIso(latest, deploymentTime(event.data));
    }
  };

  // Metadata is read for purchases alone, so the store may fetch it for those events only; the
  // read-model check replays projections, which read it for every event.
  const metadataRarelyRead = readModels === undefined;
  await forEachPage(store, { pageSize: options.pageSize, metadataRarelyRead }, (page) => {
    for (let i = 0; i < page.length; i++) apply(page[i]);
    readModels?.applyPage(page);
    events += page.length;
    last = page[page.length - 1];
    options.progress?.increment(page.length);
  });

  const now = options.now ??
    (latest || last?.createdAt.toISOString() || new Date().toISOString());
  const pendingAfter = new Date(Date.parse(now) - options.settlementGraceMs).toISOString();
  ledger.finish(now, options.holdSweepMs);
  work.finish(pendingAfter);
  metering?.finish(ledger.keys, now, options.meteringGraceMs);
  const readModelTables = readModels?.finish(head);
  const seconds = (performance.now() - started) / 1000;
  const summary = ledger.summary();
  return {
    ok: findings.total() === 0,
    events,
    head: String(head),
    now,
    seconds: Math.round(seconds * 1000) / 1000,
    eventsPerSecond: Math.round(events / Math.max(seconds, 1e-6)),
    invariants: [...options.invariants]
      .filter((name) => !skipped.some((skip) => skip.name === name))
      .map((name) => ({ name, violations: findings.counts.get(name) ?? 0 })),
    skipped,
    accounts: summary.accounts,
    ledgerKeys: summary.keys,
    totalBalanceMicros: summary.totalBalanceMicros,
    ...(readModelTables !== undefined ? { readModelTables } : {}),
    findings: findings.kept,
  };
}

/** A deployment event's own time; none (not createdAt: tests and imports write old times). */
function deploymentTime(data: Record<string, unknown>): string | undefined {
  const at = data.minute ?? data.stoppedAt ?? data.startedAt ?? data.createdAt ??
    data.resumedAt ?? data.terminatedAt ?? data.failedAt ?? data.requestedAt ?? data.at;
  return typeof at === "string" ? at : undefined;
}
