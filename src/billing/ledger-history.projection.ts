import type { DatabaseSync } from "node:sqlite";
import type { RecordedEvent } from "../event-store/event-store.port.ts";
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
    const event = recorded as RecordedEvent & LedgerEvent;
    const accountId = event.data.accountId;
    const last = prepared(
      db,
      `SELECT balance_after_micros, held_after_micros, at_max FROM billing_ledger_history
       WHERE account_id = ? ORDER BY at_max DESC, position DESC LIMIT 1`,
    ).get(accountId) as
      | { balance_after_micros: number; held_after_micros: number; at_max: string }
      | undefined;
    let balance = last?.balance_after_micros ?? 0;
    let held = last?.held_after_micros ?? 0;
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
        held -= openHoldAmount(db, accountId, key);
        break;
      case "CreditsCharged":
        key = event.data.chargeId;
        amount = event.data.amountMicros;
        model = event.data.model;
        if (event.data.reservationId !== undefined) {
          held -= openHoldAmount(db, accountId, event.data.reservationId);
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
          held -= openHoldAmount(db, accountId, event.data.reservationId);
        }
        break;
      default:
        return;
    }
    const at = event.data.at;
    prepared(
      db,
      `INSERT INTO billing_ledger_history (position, account_id, event_id, type, key, amount_micros,
       model, expires_at, balance_after_micros, held_after_micros, at_max)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
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
      last && last.at_max > at ? last.at_max : at,
    );
  }
}

/** The amount a hold still holds (0 once settled, released or written off, or if unknown). */
function openHoldAmount(db: DatabaseSync, accountId: string, reservationId: string): number {
  const recalled = recallKey(db, accountId, reservationId);
  return recalled.hold?.status === "open" ? recalled.hold.amountMicros : 0;
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
