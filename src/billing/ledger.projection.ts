import type { DatabaseSync } from "node:sqlite";
import type { RecordedEvent } from "../event-store/event-store.port.ts";
import type { Projection } from "../projections/projection.ts";
import { prepared } from "./prepared-statements.ts";
import { LEDGER_CATEGORY, LEDGER_EVENT_TYPES, type LedgerEvent } from "./ledger.events.ts";

export const LEDGER_PROJECTION = "billing-ledger";

/**
 * The billing read model, from the ledger streams: one balance row per account, one
 * transaction row per balance movement (with the balance after it), and the open holds (the
 * hold-expiry process finds expired ones here). Usage is answered from the transaction rows.
 */
export class LedgerProjection implements Projection {
  readonly name = LEDGER_PROJECTION;
  readonly version = 1;
  readonly filter = {
    streamPrefixes: [`${LEDGER_CATEGORY}-`],
    eventTypes: [...LEDGER_EVENT_TYPES],
  };

  setup(db: DatabaseSync): void {
    db.exec(`
      CREATE TABLE IF NOT EXISTS billing_balances (
        account_id TEXT PRIMARY KEY,
        balance_micros INTEGER NOT NULL,
        held_micros INTEGER NOT NULL,
        updated_at TEXT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS billing_transactions (
        position INTEGER PRIMARY KEY,
        transaction_id TEXT NOT NULL UNIQUE,
        account_id TEXT NOT NULL,
        type TEXT NOT NULL,
        amount_micros INTEGER NOT NULL,
        balance_after_micros INTEGER NOT NULL,
        reference TEXT,
        description TEXT,
        model TEXT,
        kind TEXT,
        charge_id TEXT,
        created_at TEXT NOT NULL
      );
      CREATE INDEX IF NOT EXISTS billing_transactions_account
        ON billing_transactions (account_id, position);
      CREATE INDEX IF NOT EXISTS billing_transactions_usage
        ON billing_transactions (account_id, created_at);
      CREATE TABLE IF NOT EXISTS billing_holds (
        account_id TEXT NOT NULL,
        reservation_id TEXT NOT NULL,
        amount_micros INTEGER NOT NULL,
        reference TEXT,
        expires_at TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (account_id, reservation_id)
      );
      CREATE INDEX IF NOT EXISTS billing_holds_expiry ON billing_holds (expires_at);
    `);
  }

  reset(db: DatabaseSync): void {
    db.exec(
      "DELETE FROM billing_balances; DELETE FROM billing_transactions; DELETE FROM billing_holds;",
    );
  }

  apply(recorded: RecordedEvent, db: DatabaseSync): void {
    const event = recorded as RecordedEvent & LedgerEvent;
    const accountId = event.data.accountId;
    const at = event.data.at;
    switch (event.type) {
      case "CreditsPurchased":
        this.move(db, recorded, accountId, "purchase", event.data.amountMicros, at, {
          reference: event.data.paymentReference,
          description: `${event.data.provider} purchase`,
        });
        break;
      case "CreditsGranted":
        this.move(
          db,
          recorded,
          accountId,
          event.data.reason === "first_purchase_bonus" ? "bonus" : "grant",
          event.data.amountMicros,
          at,
          {
            reference: event.data.paymentReference ?? event.data.grantId,
            description: event.data.reason,
          },
        );
        break;
      case "CreditsReserved":
        this.adjustHeld(db, accountId, event.data.amountMicros, at);
        prepared(
          db,
          `INSERT OR REPLACE INTO billing_holds
           (account_id, reservation_id, amount_micros, reference, expires_at, created_at)
           VALUES (?, ?, ?, ?, ?, ?)`,
        ).run(
          accountId,
          event.data.reservationId,
          event.data.amountMicros,
          event.data.reference,
          event.data.expiresAt,
          at,
        );
        break;
      case "ReservationReleased":
        this.closeHold(db, accountId, event.data.reservationId, at);
        break;
      case "CreditsCharged":
        if (event.data.reservationId !== undefined) {
          this.closeHold(db, accountId, event.data.reservationId, at);
        }
        this.move(db, recorded, accountId, "charge", -event.data.amountMicros, at, {
          reference: event.data.reference,
          model: event.data.model,
          kind: event.data.kind,
          chargeId: event.data.chargeId,
        });
        break;
      case "ChargeWrittenOff":
        // Nothing moves: the work is not charged. Its hold, if still open, is closed.
        if (event.data.reservationId !== undefined) {
          this.closeHold(db, accountId, event.data.reservationId, at);
        }
        break;
      case "CreditsRefunded":
        this.move(db, recorded, accountId, "refund", event.data.amountMicros, at, {
          reference: event.data.chargeId,
          description: event.data.reason,
          model: event.data.model,
          chargeId: event.data.chargeId,
        });
        break;
    }
  }

  private move(
    db: DatabaseSync,
    recorded: RecordedEvent,
    accountId: string,
    type: string,
    signedMicros: number,
    at: string,
    details: {
      reference?: string;
      description?: string;
      model?: string;
      kind?: string;
      chargeId?: string;
    },
  ): void {
    const row = prepared(
      db,
      `INSERT INTO billing_balances (account_id, balance_micros, held_micros, updated_at) VALUES (?, ?, 0, ?)
       ON CONFLICT(account_id) DO UPDATE SET balance_micros = balance_micros + excluded.balance_micros,
       updated_at = excluded.updated_at RETURNING balance_micros`,
    ).get(accountId, signedMicros, at) as { balance_micros: number };
    prepared(
      db,
      `INSERT INTO billing_transactions (position, transaction_id, account_id, type, amount_micros,
       balance_after_micros, reference, description, model, kind, charge_id, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      recorded.position,
      recorded.id,
      accountId,
      type,
      signedMicros,
      row.balance_micros,
      details.reference ?? null,
      details.description ?? null,
      details.model ?? null,
      details.kind ?? null,
      details.chargeId ?? null,
      at,
    );
  }

  private adjustHeld(db: DatabaseSync, accountId: string, deltaMicros: number, at: string): void {
    prepared(
      db,
      `INSERT INTO billing_balances (account_id, balance_micros, held_micros, updated_at) VALUES (?, 0, ?, ?)
       ON CONFLICT(account_id) DO UPDATE SET held_micros = held_micros + excluded.held_micros,
       updated_at = excluded.updated_at`,
    ).run(accountId, deltaMicros, at);
  }

  private closeHold(db: DatabaseSync, accountId: string, reservationId: string, at: string): void {
    const hold = prepared(
      db,
      "DELETE FROM billing_holds WHERE account_id = ? AND reservation_id = ? RETURNING amount_micros",
    ).get(accountId, reservationId) as { amount_micros: number } | undefined;
    if (hold) this.adjustHeld(db, accountId, -hold.amount_micros, at);
  }
}
