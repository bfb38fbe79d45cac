import type { DatabaseSync, SQLInputValue } from "node:sqlite";
import type { RecordedEvent } from "../event-store/event-store.port.ts";
import { MultiRowInsert } from "../projections/multi-row-insert.ts";
import type { Projection } from "../projections/projection.ts";
import { prepared } from "./prepared-statements.ts";
import type { ChargeRecord, HoldRecord, RecalledKey } from "./ledger.decider.ts";
import { LEDGER_CATEGORY, LEDGER_EVENT_TYPES, type LedgerEvent } from "./ledger.events.ts";

export const LEDGER_HISTORY_PROJECTION = "billing-ledger-history";

/**
 * One row per ledger event, in stream order, with the account's balance and holds right after
 * it. Two readers need it and neither may replay a stream on the event loop:
 *
 * - the balance at an instant (`?at=`) is the last row whose `at_max` is not after the instant,
 *   one indexed lookup. `at_max` is the running maximum of the events' business time, so it
 *   never decreases along a stream: the rows it selects are exactly the prefix that a replay
 *   stopping at the first event after the instant would fold;
 * - the ledger service recalls, by key, what happened to a hold or charge it no longer keeps in
 *   memory (`recall`).
 */
export class LedgerHistoryProjection implements Projection {
  readonly name = LEDGER_HISTORY_PROJECTION;
  readonly version = 1;
  readonly filter = {
    streamPrefixes: [`${LEDGER_CATEGORY}-`],
    eventTypes: [...LEDGER_EVENT_TYPES],
  };

  setup(db: DatabaseSync): void {
    db.exec(`
      CREATE TABLE IF NOT EXISTS billing_ledger_history (
        position INTEGER PRIMARY KEY,
        account_id TEXT NOT NULL,
        event_id TEXT NOT NULL,
        type TEXT NOT NULL,
        key TEXT NOT NULL,
        amount_micros INTEGER NOT NULL,
        model TEXT,
        expires_at TEXT,
        balance_after_micros INTEGER NOT NULL,
        held_after_micros INTEGER NOT NULL,
        at_max TEXT NOT NULL
      );
      CREATE INDEX IF NOT EXISTS billing_ledger_history_time
        ON billing_ledger_history (account_id, at_max);
      CREATE INDEX IF NOT EXISTS billing_ledger_history_key
        ON billing_ledger_history (account_id, key);
    `);
  }

  reset(db: DatabaseSync): void {
    db.exec("DELETE FROM billing_ledger_history");
  }

  apply(recorded: RecordedEvent, db: DatabaseSync): void {
    this.applyBatch([recorded], db);
  }

  /**
   * The batch's rows are written together at its end (MultiRowInsert), so what each event would
   * read back from rows written before it in the batch is kept in memory meanwhile: each
   * account's balance, holds and at_max after its last row, and the hold of each key the batch
   * touched, moved as recallKey's fold moves it. What the batch has not touched is read from
   * the table, which then holds exactly the rows before the batch.
   */
  applyBatch(events: readonly RecordedEvent[], db: DatabaseSync): void {
    const tails = new Map<string, AccountTail>();
    const holds = new Map<string, HoldRecord | undefined>();
    const holdOf = (accountId: string, key: string): HoldRecord | undefined => {
      const id = `${accountId}\u0000${key}`;
      if (!holds.has(id)) holds.set(id, recallKey(db, accountId, key).hold);
      return holds.get(id);
    };
    const moveHold = (accountId: string, key: string, status: HoldRecord["status"]): void => {
      const hold = holdOf(accountId, key);
      if (hold?.status === "open") holds.set(`${accountId}\u0000${key}`, { ...hold, status });
    };
    const openHoldAmount = (accountId: string, key: string): number => {
      const hold = holdOf(accountId, key);
      return hold?.status === "open" ? hold.amountMicros : 0;
    };
    const rows: SQLInputValue[] = [];
    for (const recorded of events) {
      const event = recorded as RecordedEvent & LedgerEvent;
      const accountId = event.data.accountId;
      const last = tails.get(accountId) ?? lastRowOf(db, accountId);
      let balance = last.balance;
      let held = last.held;
      let key: string;
      let amount = 0;
      let model: string | undefined;
      let expiresAt: string | undefined;
      switch (event.type) {
        case "CreditsPurchased":
          key = event.data.paymentReference;
          amount = event.data.amountMicros;
          balance += amount;
          break;
        case "CreditsGranted":
          key = event.data.grantId;
          amount = event.data.amountMicros;
          balance += amount;
          break;
        case "CreditsReserved":
          key = event.data.reservationId;
          amount = event.data.amountMicros;
          model = event.data.model;
          expiresAt = event.data.expiresAt;
          held += amount;
          break;
        case "ReservationReleased":
          key = event.data.reservationId;
          amount = event.data.amountMicros;
          held -= openHoldAmount(accountId, key);
          break;
        case "CreditsCharged":
          key = event.data.chargeId;
          amount = event.data.amountMicros;
          model = event.data.model;
          if (event.data.reservationId !== undefined) {
            held -= openHoldAmount(accountId, event.data.reservationId);
          }
          balance -= amount;
          break;
        case "CreditsRefunded":
          key = event.data.chargeId;
          amount = event.data.amountMicros;
          model = event.data.model;
          balance += amount;
          break;
        case "ChargeWrittenOff":
          key = event.data.chargeId;
          amount = event.data.amountMicros;
          model = event.data.model;
          if (event.data.reservationId !== undefined) {
            held -= openHoldAmount(accountId, event.data.reservationId);
          }
          break;
        default:
          continue;
      }
      // This row's effect on its own key's hold, as recallKey folds it.
      switch (event.type) {
        case "CreditsReserved":
          holds.set(`${accountId}\u0000${key}`, {
            amountMicros: amount,
            expiresAt: expiresAt ?? "",
            status: "open",
          });
          break;
        case "ReservationReleased":
        case "ChargeWrittenOff":
          moveHold(accountId, key, "released");
          break;
        case "CreditsCharged":
          moveHold(accountId, key, "settled");
          break;
      }
      const at = event.data.at;
      const atMax = last.atMax !== undefined && last.atMax > at ? last.atMax : at;
      tails.set(accountId, { balance, held, atMax });
      rows.push(
        recorded.position,
        accountId,
        recorded.id,
        event.type,
        key,
        amount,
        model ?? null,
        expiresAt ?? null,
        balance,
        held,
        atMax,
      );
    }
    insertHistoryRows.run(db, rows);
  }
}

/** An account's balance and holds after its last history row, and that row's at_max. */
interface AccountTail {
  balance: number;
  held: number;
  /** Undefined: the account has no row yet. */
  atMax?: string;
}

const insertHistoryRows = new MultiRowInsert(
  `INSERT INTO billing_ledger_history (position, account_id, event_id, type, key, amount_micros,
   model, expires_at, balance_after_micros, held_after_micros, at_max)`,
  "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
);

/** The account's last row (greatest at_max, then position): the one each new row follows. */
function lastRowOf(db: DatabaseSync, accountId: string): AccountTail {
  const row = prepared(
    db,
    `SELECT balance_after_micros, held_after_micros, at_max FROM billing_ledger_history
     WHERE account_id = ? ORDER BY at_max DESC, position DESC LIMIT 1`,
  ).get(accountId) as
    | { balance_after_micros: number; held_after_micros: number; at_max: string }
    | undefined;
  return row
    ? { balance: row.balance_after_micros, held: row.held_after_micros, atMax: row.at_max }
    : { balance: 0, held: 0 };
}

/** Folds a key's rows into the facts the ledger decider keeps about it. */
export function recallKey(db: DatabaseSync, accountId: string, key: string): RecalledKey {
  const rows = prepared(
    db,
    `SELECT event_id, type, amount_micros, model, expires_at FROM billing_ledger_history
     WHERE account_id = ? AND key = ? ORDER BY position`,
  ).all(accountId, key) as Array<{
    event_id: string;
    type: string;
    amount_micros: number;
    model: string | null;
    expires_at: string | null;
  }>;
  let hold: HoldRecord | undefined;
  let charge: ChargeRecord | undefined;
  for (const row of rows) {
    const model = row.model !== null ? { model: row.model } : {};
    switch (row.type) {
      case "CreditsReserved":
        hold = { amountMicros: row.amount_micros, expiresAt: row.expires_at ?? "", status: "open" };
        break;
      case "ReservationReleased":
        if (hold?.status === "open") hold.status = "released";
        break;
      case "CreditsCharged":
        if (hold?.status === "open") hold.status = "settled";
        charge = {
          transactionId: row.event_id,
          amountMicros: row.amount_micros,
          ...model,
          refunded: false,
        };
        break;
      case "CreditsRefunded":
        if (charge) charge.refunded = true;
        break;
      case "ChargeWrittenOff":
        if (hold?.status === "open") hold.status = "released";
        charge = {
          transactionId: row.event_id,
          amountMicros: 0,
          ...model,
          refunded: false,
          writtenOff: true,
        };
        break;
    }
  }
  return { ...(hold ? { hold } : {}), ...(charge ? { charge } : {}) };
}

/** The balance and holds right after the last event at or before `at` (by business time). */
export function balanceAtFromHistory(
  db: DatabaseSync,
  accountId: string,
  at: string,
): { balanceMicros: number; heldMicros: number } {
  const row = prepared(
    db,
    `SELECT balance_after_micros, held_after_micros FROM billing_ledger_history
     WHERE account_id = ? AND at_max <= ? ORDER BY at_max DESC, position DESC LIMIT 1`,
  ).get(accountId, at) as { balance_after_micros: number; held_after_micros: number } | undefined;
  return { balanceMicros: row?.balance_after_micros ?? 0, heldMicros: row?.held_after_micros ?? 0 };
}
