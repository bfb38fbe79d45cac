import type { DatabaseSync } from "node:sqlite";
import type { RecordedEvent } from "../event-store/event-store.port.ts";
import type { InferenceCompleted } from "../inference/inference.events.ts";
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
    if (recorded.type === "InferenceCompleted") {
      const completed = recorded.data as InferenceCompleted;
      if (!(completed.chargedMicros > 0)) return;
      // Events written before `reservationId` existed: the inference id was the hold's key.
      const chargeId = completed.reservationId ?? completed.inferenceId;
      const closed = prepared(
        db,
        "DELETE FROM billing_inference_charges WHERE account_id = ? AND charge_id = ? AND state = 'closed'",
      ).run(completed.accountId, chargeId);
      if (Number(closed.changes) > 0) return;
      prepared(
        db,
        `INSERT OR IGNORE INTO billing_inference_charges
         (account_id, charge_id, state, amount_micros, model, request_id, completed_at)
         VALUES (?, ?, 'due', ?, ?, ?, ?)`,
      ).run(
        completed.accountId,
        chargeId,
        completed.chargedMicros,
        completed.model,
        completed.requestId,
        completed.finishedAt,
      );
      return;
    }
    const event = recorded as RecordedEvent & LedgerEvent;
    if (event.type !== "CreditsCharged" && event.type !== "ChargeWrittenOff") return;
    if (event.type === "CreditsCharged" && event.data.kind !== INFERENCE_CHARGE_KIND) return;
    const due = prepared(
      db,
      "DELETE FROM billing_inference_charges WHERE account_id = ? AND charge_id = ? AND state = 'due'",
    ).run(event.data.accountId, event.data.chargeId);
    if (Number(due.changes) > 0) return;
    prepared(
      db,
      `INSERT OR IGNORE INTO billing_inference_charges
       (account_id, charge_id, state, amount_micros, model, request_id, completed_at)
       VALUES (?, ?, 'closed', ?, ?, NULL, ?)`,
    ).run(
      event.data.accountId,
      event.data.chargeId,
      event.data.amountMicros,
      event.data.model ?? null,
      event.data.at,
    );
  }
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
