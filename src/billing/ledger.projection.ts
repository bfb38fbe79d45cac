import type { DatabaseSync, SQLInputValue } from "node:sqlite";
import type { RecordedEvent } from "../event-store/event-store.port.ts";
import { MultiRowInsert } from "../projections/multi-row-insert.ts";
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
    this.applyBatch([recorded], db);
  }

  /**
   * Applies a batch with its balance and hold changes kept in memory and written once at its end:
   * a balance row per account it touched, the holds it left open, the holds it closed, and a
   * transaction row per movement, each in few statements. Rows the batch has not touched yet
   * are read when first needed; only a hold placed before the batch is closed at once, by the
   * DELETE that reads it.
   */
  applyBatch(events: readonly RecordedEvent[], db: DatabaseSync): void {
    const batch = new LedgerBatch(db);
    for (const recorded of events) {
      const event = recorded as RecordedEvent & LedgerEvent;
      const accountId = event.data.accountId;
      const at = event.data.at;
      switch (event.type) {
        case "CreditsPurchased":
          batch.move(recorded, accountId, "purchase", event.data.amountMicros, at, {
            reference: event.data.paymentReference,
            description: `${event.data.provider} purchase`,
          });
          break;
        case "CreditsGranted":
          batch.move(
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
          batch.adjustHeld(accountId, event.data.amountMicros, at);
          batch.openHold(accountId, event.data.reservationId, {
            amountMicros: event.data.amountMicros,
            reference: event.data.reference,
            expiresAt: event.data.expiresAt,
            createdAt: at,
          });
          break;
        case "ReservationReleased":
          batch.closeHold(accountId, event.data.reservationId, at);
          break;
        case "CreditsCharged":
          if (event.data.reservationId !== undefined) {
            batch.closeHold(accountId, event.data.reservationId, at);
          }
          batch.move(recorded, accountId, "charge", -event.data.amountMicros, at, {
            reference: event.data.reference,
            model: event.data.model,
            kind: event.data.kind,
            chargeId: event.data.chargeId,
          });
          break;
        case "ChargeWrittenOff":
          // Nothing moves: the work is not charged. Its hold, if still open, is closed.
          if (event.data.reservationId !== undefined) {
            batch.closeHold(accountId, event.data.reservationId, at);
          }
          break;
        case "CreditsRefunded":
          batch.move(recorded, accountId, "refund", event.data.amountMicros, at, {
            reference: event.data.chargeId,
            description: event.data.reason,
            model: event.data.model,
            chargeId: event.data.chargeId,
          });
          break;
      }
    }
    batch.write();
  }
}

interface Balance {
  balanceMicros: number;
  heldMicros: number;
  updatedAt: string;
}

interface Hold {
  amountMicros: number;
  reference: string | null;
  expiresAt: string;
  createdAt: string;
}

/** A hold the batch touched: its row as the batch leaves it (null: none), and what is stored. */
interface TouchedHold {
  accountId: string;
  reservationId: string;
  row: Hold | null;
  /** False once a DELETE removed the stored row; true while one from before the batch may exist. */
  storedRowMayExist: boolean;
}

const upsertBalances = new MultiRowInsert(
  "INSERT INTO billing_balances (account_id, balance_micros, held_micros, updated_at)",
  "(?, ?, ?, ?)",
  `ON CONFLICT(account_id) DO UPDATE SET balance_micros = excluded.balance_micros,
   held_micros = excluded.held_micros, updated_at = excluded.updated_at`,
);

const insertTransactions = new MultiRowInsert(
  `INSERT INTO billing_transactions (position, transaction_id, account_id, type, amount_micros,
   balance_after_micros, reference, description, model, kind, charge_id, created_at)`,
  "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
);

const replaceHolds = new MultiRowInsert(
  `INSERT OR REPLACE INTO billing_holds
   (account_id, reservation_id, amount_micros, reference, expires_at, created_at)`,
  "(?, ?, ?, ?, ?, ?)",
);

/**
 * One batch of LedgerProjection: the same changes its statements made event by event (an upsert
 * of the balance per movement, INSERT OR REPLACE and DELETE of holds, a transaction row per
 * movement), folded in memory and written at the end in that final state.
 */
class LedgerBatch {
  private readonly balances = new Map<string, Balance>();
  private readonly holds = new Map<string, TouchedHold>();
  private readonly transactions: SQLInputValue[] = [];

  constructor(private readonly db: DatabaseSync) {}

  move(
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
    const balance = this.balance(accountId);
    balance.balanceMicros += signedMicros;
    balance.updatedAt = at;
    this.transactions.push(
      recorded.position,
      recorded.id,
      accountId,
      type,
      signedMicros,
      balance.balanceMicros,
      details.reference ?? null,
      details.description ?? null,
      details.model ?? null,
      details.kind ?? null,
      details.chargeId ?? null,
      at,
    );
  }

  adjustHeld(accountId: string, deltaMicros: number, at: string): void {
    const balance = this.balance(accountId);
    balance.heldMicros += deltaMicros;
    balance.updatedAt = at;
  }

  /** INSERT OR REPLACE of the hold's row. */
  openHold(accountId: string, reservationId: string, hold: Hold): void {
    const id = `${accountId}\u0000${reservationId}`;
    const touched = this.holds.get(id);
    if (touched) touched.row = hold;
    else this.holds.set(id, { accountId, reservationId, row: hold, storedRowMayExist: true });
  }

  /** Deletes the hold's row, if any, and releases what it held. */
  closeHold(accountId: string, reservationId: string, at: string): void {
    const id = `${accountId}\u0000${reservationId}`;
    let touched = this.holds.get(id);
    if (!touched) {
      const stored = prepared(
        this.db,
        `DELETE FROM billing_holds WHERE account_id = ? AND reservation_id = ?
         RETURNING amount_micros, reference, expires_at, created_at`,
      ).get(accountId, reservationId) as
        | {
          amount_micros: number;
          reference: string | null;
          expires_at: string;
          created_at: string;
        }
        | undefined;
      touched = {
        accountId,
        reservationId,
        row: stored
          ? {
            amountMicros: stored.amount_micros,
            reference: stored.reference,
            expiresAt: stored.expires_at,
            createdAt: stored.created_at,
          }
          : null,
        storedRowMayExist: false,
      };
      this.holds.set(id, touched);
    }
    const hold = touched.row;
    touched.row = null;
    if (hold) this.adjustHeld(accountId, -hold.amountMicros, at);
  }

  /** Writes the batch's final state: balances, closed holds, open holds, transactions. */
  write(): void {
    const balances: SQLInputValue[] = [];
    for (const [accountId, balance] of this.balances) {
      balances.push(accountId, balance.balanceMicros, balance.heldMicros, balance.updatedAt);
    }
    upsertBalances.run(this.db, balances);
    const closed: Array<[string, string]> = [];
    const open: SQLInputValue[] = [];
    for (const { accountId, reservationId, row, storedRowMayExist } of this.holds.values()) {
      if (row) {
        open.push(
          accountId,
          reservationId,
          row.amountMicros,
          row.reference,
          row.expiresAt,
          row.createdAt,
        );
      } else if (storedRowMayExist) closed.push([accountId, reservationId]);
    }
    if (closed.length > 0) {
      prepared(
        this.db,
        `DELETE FROM billing_holds WHERE (account_id, reservation_id) IN
         (SELECT value ->> 0, value ->> 1 FROM json_each(?))`,
      ).run(JSON.stringify(closed));
    }
    replaceHolds.run(this.db, open);
    insertTransactions.run(this.db, this.transactions);
  }

  /** The account's balance row as the batch has it so far (zeros: no row yet). */
  private balance(accountId: string): Balance {
    let balance = this.balances.get(accountId);
    if (!balance) {
      const stored = prepared(
        this.db,
        "SELECT balance_micros, held_micros, updated_at FROM billing_balances WHERE account_id = ?",
      ).get(accountId) as
        | { balance_micros: number; held_micros: number; updated_at: string }
        | undefined;
      balance = {
        balanceMicros: stored?.balance_micros ?? 0,
        heldMicros: stored?.held_micros ?? 0,
        updatedAt: stored?.updated_at ?? "",
      };
      this.balances.set(accountId, balance);
    }
    return balance;
  }
}
