import type { DatabaseSync } from "node:sqlite";
import type { EventStore, RecordedEvent } from "../event-store/event-store.port.ts";
import { evolve, initialLedgerState } from "../billing/ledger.decider.ts";
import { storedPositionOf } from "../projections/projection-checkpoints.ts";
import { replayLedgerUntil } from "../billing/ledger-replay.ts";
import { LEDGER_PROJECTION } from "../billing/ledger.projection.ts";
import { LEDGER_HISTORY_PROJECTION } from "../billing/ledger-history.projection.ts";
import {
  accountIdOfLedgerStream,
  LEDGER_CATEGORY,
  type LedgerEvent,
} from "../billing/ledger.events.ts";

export interface AccountAudit {
  accountId: string;
  events: number;
  balanceMicros: number;
  heldMicros: number;
  /** Delivered work that could not be charged (ChargeWrittenOff), in micro-dollars. */
  writtenOffMicros: number;
  problems: string[];
}

export interface LedgerAuditReport {
  accounts: number;
  events: number;
  totalBalanceMicros: number;
  totalWrittenOffMicros: number;
  problems: number;
  accountsWithProblems: AccountAudit[];
}

/**
 * Replays every ledger stream from the event store with the billing decider's own `evolve` and
 * checks what must always hold: revisions without gaps, a balance that never goes below zero,
 * holds never exceeding the balance, and — when a read-model database is given — that the
 * billing read model agrees with the replay to the micro-dollar.
 */
export async function auditLedgers(
  store: EventStore,
  options: { readModels?: DatabaseSync; accountId?: string } = {},
): Promise<LedgerAuditReport> {
  const byStream = new Map<string, RecordedEvent[]>();
  let after = 0n;
  for (;;) {
    const page = await store.readAll({
      from: after,
      maxCount: 5000,
      filter: { streamPrefixes: [`${LEDGER_CATEGORY}-`] },
    });
    if (page.length === 0) break;
    for (const event of page) {
      if (options.accountId && accountIdOfLedgerStream(event.stream) !== options.accountId) {
        continue;
      }
      let events = byStream.get(event.stream);
      if (!events) byStream.set(event.stream, events = []);
      events.push(event);
    }
    after = page[page.length - 1].position;
  }

  const audits: AccountAudit[] = [];
  let totalEvents = 0;
  let totalBalance = 0;
  for (const [stream, events] of byStream) {
    const accountId = accountIdOfLedgerStream(stream);
    const problems: string[] = [];
    let state = initialLedgerState();
    let writtenOffMicros = 0;
    events.forEach((event, index) => {
      if (event.type === "ChargeWrittenOff") writtenOffMicros += event.data.amountMicros;
      if (event.revision !== BigInt(index)) {
        problems.push(
          `revision gap: expected ${index}, found ${event.revision} at position ${event.position}`,
        );
      }
      state = evolve(state, event as unknown as LedgerEvent);
      if (state.balanceMicros < 0) {
        problems.push(
          `balance below zero (${state.balanceMicros}) after ${event.type} ${event.id}`,
        );
      }
      if (state.heldMicros > Math.max(state.balanceMicros, 0)) {
        problems.push(
          `holds (${state.heldMicros}) exceed balance (${state.balanceMicros}) after ${event.id}`,
        );
      }
    });
    if (options.readModels) {
      problems.push(...compareWithReadModel(options.readModels, accountId, state, events));
    }
    totalEvents += events.length;
    totalBalance += state.balanceMicros;
    audits.push({
      accountId,
      events: events.length,
      balanceMicros: state.balanceMicros,
      heldMicros: state.heldMicros,
      writtenOffMicros,
      problems,
    });
  }
  const withProblems = audits.filter((audit) => audit.problems.length > 0);
  return {
    accounts: audits.length,
    events: totalEvents,
    totalBalanceMicros: totalBalance,
    totalWrittenOffMicros: audits.reduce((sum, audit) => sum + audit.writtenOffMicros, 0),
    problems: withProblems.reduce((sum, audit) => sum + audit.problems.length, 0),
    accountsWithProblems: withProblems,
  };
}

function compareWithReadModel(
  db: DatabaseSync,
  accountId: string,
  state: ReturnType<typeof initialLedgerState>,
  events: RecordedEvent[],
): string[] {
  const problems: string[] = [];
  const hasTable = db.prepare(
    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'billing_balances'",
  ).get();
  if (!hasTable) return ["read model has no billing tables"];
  const checkpoint = storedPositionOf(db, LEDGER_PROJECTION);
  const last = events[events.length - 1];
  if (checkpoint === undefined || checkpoint < last.position) {
    return [
      `read model is behind (checkpoint ${checkpoint ?? "none"}, ledger at ${last.position})`,
    ];
  }
  const row = db.prepare(
    "SELECT balance_micros, held_micros FROM billing_balances WHERE account_id = ?",
  ).get(accountId) as { balance_micros: number; held_micros: number } | undefined;
  if (!row) return [`read model has no balance row`];
  if (row.balance_micros !== state.balanceMicros) {
    problems.push(`read model balance ${row.balance_micros} != replayed ${state.balanceMicros}`);
  }
  if (row.held_micros !== state.heldMicros) {
    problems.push(`read model holds ${row.held_micros} != replayed ${state.heldMicros}`);
  }
  const last_tx = db.prepare(
    "SELECT balance_after_micros FROM billing_transactions WHERE account_id = ? ORDER BY position DESC LIMIT 1",
  ).get(accountId) as { balance_after_micros: number } | undefined;
  if (last_tx && last_tx.balance_after_micros !== state.balanceMicros) {
    problems.push(
      `last transaction balance_after ${last_tx.balance_after_micros} != replayed ${state.balanceMicros}`,
    );
  }
  problems.push(...compareWithHistory(db, accountId, state, last.position));
  return problems;
}

/** The history read model (what `?at=` answers from) must end where the replay ends. */
function compareWithHistory(
  db: DatabaseSync,
  accountId: string,
  state: ReturnType<typeof initialLedgerState>,
  lastPosition: bigint,
): string[] {
  const checkpoint = storedPositionOf(db, LEDGER_HISTORY_PROJECTION);
  // Read models written before the history existed have no such projection yet.
  if (checkpoint === undefined) return [];
  if (checkpoint < lastPosition) {
    return [`history read model is behind (checkpoint ${checkpoint}, ledger at ${lastPosition})`];
  }
  const row = db.prepare(
    `SELECT balance_after_micros, held_after_micros FROM billing_ledger_history WHERE account_id = ?
     ORDER BY position DESC LIMIT 1`,
  ).get(accountId) as { balance_after_micros: number; held_after_micros: number } | undefined;
  if (!row) return ["history read model has no rows"];
  const problems: string[] = [];
  if (row.balance_after_micros !== state.balanceMicros) {
    problems.push(`history balance ${row.balance_after_micros} != replayed ${state.balanceMicros}`);
  }
  if (row.held_after_micros !== state.heldMicros) {
    problems.push(`history holds ${row.held_after_micros} != replayed ${state.heldMicros}`);
  }
  return problems;
}

/** The balance of one account at an instant, replaying its ledger up to then. */
export async function balanceAt(store: EventStore, accountId: string, at: Date) {
  const { state, events } = await replayLedgerUntil(store, accountId, at);
  return { balanceMicros: state.balanceMicros, heldMicros: state.heldMicros, events };
}
