import type { DatabaseSync, SQLInputValue } from "node:sqlite";
import type { RecordedEvent } from "../event-store/event-store.port.ts";
import type { InferenceCompleted } from "../inference/inference.events.ts";
import { MultiRowInsert } from "../projections/multi-row-insert.ts";
import type { Projection } from "../projections/projection.ts";
import { prepared } from "./prepared-statements.ts";
import { LEDGER_CATEGORY, type LedgerEvent } from "./ledger.events.ts";

export const INFERENCE_CHARGES_PROJECTION = "billing-inference-charges";

/** The `kind` the per-request settle and the reconciler give inference charges. */
export const INFERENCE_CHARGE_KIND = "inference";

/**
 * Inference charges due: one `due` row per completed request that was priced
 * (InferenceCompleted with chargedMicros > 0) until its CreditsCharged or ChargeWrittenOff for
 * the same key arrives. The charge reconciler settles what stays due.
 *
 * The two sides live on different streams and either may come first (the settle is usually
 * appended before the batched usage event), so a charge that arrives first leaves a `closed`
 * marker that the completion then consumes. Readers never wait on it: it lags harmlessly, and a
 * completed request must not slow down the credential checks of the next one.
 */
export class InferenceChargesProjection implements Projection {
  readonly name = INFERENCE_CHARGES_PROJECTION;
  readonly version = 1;
  readonly readersWait = false;
  readonly filter = {
    streamPrefixes: ["inference-", `${LEDGER_CATEGORY}-`],
    eventTypes: ["InferenceCompleted", "CreditsCharged", "ChargeWrittenOff"],
  };

  setup(db: DatabaseSync): void {
    db.exec(`
      CREATE TABLE IF NOT EXISTS billing_inference_charges (
        account_id TEXT NOT NULL,
        charge_id TEXT NOT NULL,
        state TEXT NOT NULL,
        amount_micros INTEGER NOT NULL,
        model TEXT,
        request_id TEXT,
        completed_at TEXT NOT NULL,
        PRIMARY KEY (account_id, charge_id)
      );
      CREATE INDEX IF NOT EXISTS billing_inference_charges_due
        ON billing_inference_charges (state, completed_at);
    `);
  }

  reset(db: DatabaseSync): void {
    db.exec("DELETE FROM billing_inference_charges");
  }

  apply(recorded: RecordedEvent, db: DatabaseSync): void {
    this.applyBatch([recorded], db);
  }

  /**
   * Reads the stored rows of every key the batch names in one query, moves them in memory event
   * by event as the single-row statements would (a completion consumes a `closed` marker or
   * inserts `due` unless a row exists; a charge consumes `due` or inserts `closed` unless a row
   * exists), and writes only the rows that changed. A request's completion and its charge
   * usually share a batch, and then cancel out without writing anything.
   */
  applyBatch(events: readonly RecordedEvent[], db: DatabaseSync): void {
    const sides: Array<{ completes: boolean; row: ChargeRow }> = [];
    for (const recorded of events) {
      if (recorded.type === "InferenceCompleted") {
        const completed = recorded.data as InferenceCompleted;
        if (!(completed.chargedMicros > 0)) continue;
        sides.push({
          completes: true,
          row: {
            account_id: completed.accountId,
            // Events written before `reservationId` existed: the inference id was the hold's key.
            charge_id: completed.reservationId ?? completed.inferenceId,
            state: "due",
            amount_micros: completed.chargedMicros,
            model: completed.model,
            request_id: completed.requestId,
            completed_at: completed.finishedAt,
          },
        });
        continue;
      }
      const event = recorded as RecordedEvent & LedgerEvent;
      if (event.type !== "CreditsCharged" && event.type !== "ChargeWrittenOff") continue;
      if (event.type === "CreditsCharged" && event.data.kind !== INFERENCE_CHARGE_KIND) continue;
      sides.push({
        completes: false,
        row: {
          account_id: event.data.accountId,
          charge_id: event.data.chargeId,
          state: "closed",
          amount_micros: event.data.amountMicros,
          model: event.data.model ?? null,
          request_id: null,
          completed_at: event.data.at,
        },
      });
    }
    if (sides.length === 0) return;
    const keyOf = (row: ChargeRow) => `${row.account_id}\u0000${row.charge_id}`;
    const stored = storedRows(db, sides.map(({ row }) => [row.account_id, row.charge_id]));
    const current = new Map<string, ChargeRow | undefined>(stored);
    for (const { completes, row } of sides) {
      const key = keyOf(row);
      const existing = current.get(key);
      if (existing?.state === (completes ? "closed" : "due")) current.set(key, undefined);
      else if (!existing) current.set(key, row);
    }
    const removed: Array<[string, string]> = [];
    const written: SQLInputValue[] = [];
    for (const [key, row] of current) {
      const before = stored.get(key);
      if (row === before) continue;
      if (row) {
        written.push(
          row.account_id,
          row.charge_id,
          row.state,
          row.amount_micros,
          row.model,
          row.request_id,
          row.completed_at,
        );
      } else if (before) removed.push([before.account_id, before.charge_id]);
    }
    if (removed.length > 0) {
      prepared(
        db,
        `DELETE FROM billing_inference_charges WHERE (account_id, charge_id) IN
         (SELECT value ->> 0, value ->> 1 FROM json_each(?))`,
      ).run(JSON.stringify(removed));
    }
    replaceChargeRows.run(db, written);
  }
}

interface ChargeRow {
  account_id: string;
  charge_id: string;
  state: "due" | "closed";
  amount_micros: number;
  model: string | null;
  request_id: string | null;
  completed_at: string;
}

const replaceChargeRows = new MultiRowInsert(
  `INSERT OR REPLACE INTO billing_inference_charges
   (account_id, charge_id, state, amount_micros, model, request_id, completed_at)`,
  "(?, ?, ?, ?, ?, ?, ?)",
);

/** The stored rows of these (account, charge) keys, by `account\0charge`, in one query. */
function storedRows(db: DatabaseSync, keys: Array<[string, string]>): Map<string, ChargeRow> {
  const rows = prepared(
    db,
    `SELECT account_id, charge_id, state, amount_micros, model, request_id, completed_at
     FROM billing_inference_charges WHERE (account_id, charge_id) IN
     (SELECT value ->> 0, value ->> 1 FROM json_each(?))`,
  ).all(JSON.stringify(keys)) as unknown as ChargeRow[];
  return new Map(rows.map((row) => [`${row.account_id}\u0000${row.charge_id}`, row]));
}

export interface DueCharge {
  accountId: string;
  chargeId: string;
  amountMicros: number;
  model: string | null;
  requestId: string | null;
  completedAt: string;
}

/** Due rows completed at or before `completedBy`, after the keyset cursor, oldest first. */
export function dueCharges(
  db: DatabaseSync,
  completedBy: string,
  limit: number,
  after?: { completedAt: string; accountId: string; chargeId: string },
): DueCharge[] {
  const rows = (after
    ? prepared(
      db,
      `SELECT * FROM billing_inference_charges WHERE state = 'due' AND completed_at <= ?
       AND (completed_at, account_id, charge_id) > (?, ?, ?)
       ORDER BY completed_at, account_id, charge_id LIMIT ?`,
    ).all(completedBy, after.completedAt, after.accountId, after.chargeId, limit)
    : prepared(
      db,
      `SELECT * FROM billing_inference_charges WHERE state = 'due' AND completed_at <= ?
       ORDER BY completed_at, account_id, charge_id LIMIT ?`,
    ).all(completedBy, limit)) as unknown as DueRow[];
  return rows.map(toDueCharge);
}

/** Whether a completed request's charge is still due (the hold-expiry sweep asks first). */
export function isChargeDue(
  db: DatabaseSync,
  accountId: string,
  chargeId: string,
): DueCharge | undefined {
  const row = prepared(
    db,
    "SELECT * FROM billing_inference_charges WHERE account_id = ? AND charge_id = ? AND state = 'due'",
  ).get(accountId, chargeId) as DueRow | undefined;
  return row ? toDueCharge(row) : undefined;
}

interface DueRow {
  account_id: string;
  charge_id: string;
  amount_micros: number;
  model: string | null;
  request_id: string | null;
  completed_at: string;
}

function toDueCharge(row: DueRow): DueCharge {
  return {
    accountId: row.account_id,
    chargeId: row.charge_id,
    amountMicros: row.amount_micros,
    model: row.model,
    requestId: row.request_id,
    completedAt: row.completed_at,
  };
}
