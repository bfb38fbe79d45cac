import { Inject, Injectable } from "@nestjs/common";
import { Buffer } from "node:buffer";
import { type Micros, microsToUsd } from "../common/money.ts";
import { EVENT_STORE, type EventStore } from "../event-store/event-store.port.ts";
import { ProjectionRunner } from "../projections/projection-runner.ts";
import { ReadModelDatabase } from "../projections/read-model.database.ts";
import type { RecalledKey } from "./ledger.decider.ts";
import {
  balanceAtFromHistory,
  LEDGER_HISTORY_PROJECTION,
  recallKey,
} from "./ledger-history.projection.ts";
import { LEDGER_PROJECTION } from "./ledger.projection.ts";
import { REQUEST_COUNTS_PROJECTION, requestsOn } from "./request-counts.projection.ts";
import {
  type DueCharge,
  dueCharges,
  INFERENCE_CHARGES_PROJECTION,
  isChargeDue,
} from "./inference-charges.projection.ts";

export interface TransactionView {
  id: string;
  type: string;
  amount_usd: number;
  balance_after_usd: number;
  reference: string | null;
  description: string | null;
  model: string | null;
  created_at: string;
}

export interface TransactionPage {
  object: "list";
  data: TransactionView[];
  has_more: boolean;
  next_cursor: string | null;
}

export interface UsageRow {
  model?: string;
  day?: string;
  requests: number;
  refunds: number;
  cost_usd: number;
}

interface TransactionRow {
  position: number;
  transaction_id: string;
  type: string;
  amount_micros: number;
  balance_after_micros: number;
  reference: string | null;
  description: string | null;
  model: string | null;
  created_at: string;
}

/**
 * Reads of the billing read models, after waiting until they hold every write so far.
 *
 * The live balance is not read here but from the ledger stream (`LedgerService.balance`): it
 * queues behind this instance's pending commands for the account (a settle sent as a response
 * ends), folds other instances' appends, and never waits on a lagging or failed read model, so it
 * is exactly what the next reserve or charge will be decided against.
 */
@Injectable()
export class BillingQueries {
  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(ProjectionRunner) private readonly runner: ProjectionRunner,
    @Inject(ReadModelDatabase) private readonly readModels: ReadModelDatabase,
  ) {}

  /** Waits until the billing read model holds every event written so far (read-your-writes). */
  async current(): Promise<void> {
    await this.runner.untilCurrent([LEDGER_PROJECTION]);
  }

  /** Newest first; the cursor is the opaque id of the page's last row. */
  async transactions(accountId: string, limit: number, cursor?: string): Promise<TransactionPage> {
    await this.current();
    const before = cursor ? decodeCursor(cursor) : Number.MAX_SAFE_INTEGER;
    const rows = this.readModels.db.prepare(
      `SELECT position, transaction_id, type, amount_micros, balance_after_micros, reference, description,
       model, created_at FROM billing_transactions WHERE account_id = ? AND position < ?
       ORDER BY position DESC LIMIT ?`,
    ).all(accountId, before, limit + 1) as unknown as TransactionRow[];
    const page = rows.slice(0, limit);
    return {
      object: "list",
      data: page.map(toTransactionView),
      has_more: rows.length > limit,
      next_cursor: rows.length > limit ? encodeCursor(page[page.length - 1].position) : null,
    };
  }

  /**
   * Newest first from `cursor` (or the newest), at most `maxRows` of them: the CSV export.
   * `truncated` says older rows were left out.
   */
  async transactionsForExport(
    accountId: string,
    maxRows: number,
    cursor?: string,
  ): Promise<{ rows: TransactionView[]; truncated: boolean }> {
    const page = await this.transactions(accountId, maxRows, cursor);
    return { rows: page.data, truncated: page.has_more };
  }

  /** What the account spent (charges less refunds) from `from` on, by business time. */
  async spendSince(accountId: string, from: string): Promise<Micros> {
    await this.current();
    const row = this.readModels.db.prepare(
      `SELECT coalesce(-sum(amount_micros), 0) AS spent FROM billing_transactions
       WHERE account_id = ? AND type IN ('charge', 'refund') AND created_at >= ?`,
    ).get(accountId, from) as { spent: number };
    return row.spent;
  }

  /** Completed OpenAI-compatible requests of the account on a UTC day (`YYYY-MM-DD`). */
  async requestsOn(accountId: string, day: string): Promise<number> {
    // Readers never wait on this read model by default (it is fed by the hot path): wait here.
    await this.runner.waitFor(await this.store.headPosition(), [REQUEST_COUNTS_PROJECTION]);
    return requestsOn(this.readModels.db, accountId, day);
  }

  /** Every transaction row of an account, oldest first, as stored (replay checks compare these). */
  async transactionRows(accountId: string): Promise<Record<string, unknown>[]> {
    await this.current();
    return this.readModels.db.prepare(
      "SELECT * FROM billing_transactions WHERE account_id = ? ORDER BY position",
    ).all(accountId) as Record<string, unknown>[];
  }

  async usage(
    accountId: string,
    range: { from: string; to?: string; groupBy: "model" | "day" },
  ): Promise<{ rows: UsageRow[]; totalMicros: Micros }> {
    await this.current();
    const group = range.groupBy === "day"
      ? "substr(created_at, 1, 10)"
      : "coalesce(model, 'unknown')";
    const rows = this.readModels.db.prepare(
      `SELECT ${group} AS grouping,
         sum(CASE WHEN type = 'charge' THEN 1 ELSE 0 END) AS requests,
         sum(CASE WHEN type = 'refund' THEN 1 ELSE 0 END) AS refunds,
         -sum(amount_micros) AS cost_micros
       FROM billing_transactions
       WHERE account_id = ? AND type IN ('charge', 'refund') AND created_at >= ? AND created_at < ?
       GROUP BY grouping ORDER BY grouping`,
    ).all(accountId, range.from, range.to ?? "\uffff") as Array<
      { grouping: string; requests: number; refunds: number; cost_micros: number }
    >;
    let totalMicros = 0;
    const usage = rows.map((row) => {
      totalMicros += row.cost_micros;
      return {
        [range.groupBy]: row.grouping,
        requests: row.requests,
        refunds: row.refunds,
        cost_usd: microsToUsd(row.cost_micros),
      } as UsageRow;
    });
    return { rows: usage, totalMicros };
  }

  /** Open holds past their expiry, oldest first. */
  async expiredHolds(
    now: Date,
    limit: number,
  ): Promise<Array<{ accountId: string; reservationId: string }>> {
    await this.current();
    const rows = this.readModels.db.prepare(
      `SELECT account_id, reservation_id FROM billing_holds WHERE expires_at <= ?
       ORDER BY expires_at LIMIT ?`,
    ).all(now.toISOString(), limit) as Array<{ account_id: string; reservation_id: string }>;
    return rows.map((row) => ({ accountId: row.account_id, reservationId: row.reservation_id }));
  }

  /**
   * The balance at an instant (by each event's business time): one indexed lookup in the
   * ledger history read model, which keeps the balance after every event. It answers what a
   * replay of the stream up to that instant would (the audit CLI still replays, and checks).
   */
  async balanceAt(
    accountId: string,
    at: Date,
  ): Promise<{ balanceMicros: Micros; availableMicros: Micros }> {
    await this.runner.untilCurrent([LEDGER_HISTORY_PROJECTION]);
    const { balanceMicros, heldMicros } = balanceAtFromHistory(
      this.readModels.db,
      accountId,
      at.toISOString(),
    );
    return { balanceMicros, availableMicros: balanceMicros - heldMicros };
  }

  /** What the ledger recorded about a key, once the history holds every event to `through`. */
  async recallLedgerKey(accountId: string, key: string, through: bigint): Promise<RecalledKey> {
    await this.runner.waitFor(through, [LEDGER_HISTORY_PROJECTION]);
    return recallKey(this.readModels.db, accountId, key);
  }

  /**
   * Completed requests whose charge is still missing, finished at or before `completedBy`,
   * oldest first (keyset pagination by the last row returned). Current with the store first, so
   * the reconciler never retries a charge it has just appended. The whole head, not
   * `untilCurrent`: that skips InferenceCompleted, which only this read model reads.
   */
  async dueInferenceCharges(
    completedBy: Date,
    limit: number,
    after?: DueCharge,
  ): Promise<DueCharge[]> {
    await this.runner.waitFor(await this.store.headPosition(), [INFERENCE_CHARGES_PROJECTION]);
    return dueCharges(this.readModels.db, completedBy.toISOString(), limit, after);
  }

  /** The due charge of a completed request, if its charge is still missing. */
  async dueInferenceCharge(accountId: string, chargeId: string): Promise<DueCharge | undefined> {
    await this.runner.waitFor(await this.store.headPosition(), [INFERENCE_CHARGES_PROJECTION]);
    return isChargeDue(this.readModels.db, accountId, chargeId);
  }
}

function toTransactionView(row: TransactionRow): TransactionView {
  return {
    id: row.transaction_id,
    type: row.type,
    amount_usd: microsToUsd(row.amount_micros),
    balance_after_usd: microsToUsd(row.balance_after_micros),
    reference: row.reference,
    description: row.description,
    model: row.model,
    created_at: row.created_at,
  };
}

function encodeCursor(position: number): string {
  return Buffer.from(`txn:${position}`).toString("base64url");
}

function decodeCursor(cursor: string): number {
  const match = /^txn:(\d+)$/.exec(Buffer.from(cursor, "base64url").toString("utf8"));
  if (!match) return -1;
  return Number(match[1]);
}
