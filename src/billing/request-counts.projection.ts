import type { DatabaseSync, SQLInputValue } from "node:sqlite";
import type { RecordedEvent } from "../event-store/event-store.port.ts";
import type { InferenceCompleted } from "../inference/inference.events.ts";
import { MultiRowInsert } from "../projections/multi-row-insert.ts";
import type { Projection } from "../projections/projection.ts";
import { prepared } from "./prepared-statements.ts";

export const REQUEST_COUNTS_PROJECTION = "billing-request-counts";

const countRequests = new MultiRowInsert(
  "INSERT INTO billing_request_days (account_id, day, requests)",
  "(?, ?, 1)",
  "ON CONFLICT (account_id, day) DO UPDATE SET requests = requests + 1",
);

/**
 * Completed OpenAI-compatible requests per account and UTC day (by `finishedAt`), for the
 * console's "requests today". One small row per account-day, however many requests. Like the
 * inference-charges read model it is fed by the request hot path, so readers never wait on it
 * (`readersWait: false`); the summary waits for it explicitly, bounded.
 */
export class RequestCountsProjection implements Projection {
  readonly name = REQUEST_COUNTS_PROJECTION;
  readonly version = 1;
  readonly readersWait = false;
  readonly filter = { streamPrefixes: ["inference-"], eventTypes: ["InferenceCompleted"] };

  setup(db: DatabaseSync): void {
    db.exec(`
      CREATE TABLE IF NOT EXISTS billing_request_days (
        account_id TEXT NOT NULL,
        day TEXT NOT NULL,
        requests INTEGER NOT NULL,
        PRIMARY KEY (account_id, day)
      );
    `);
  }

  reset(db: DatabaseSync): void {
    db.exec("DELETE FROM billing_request_days");
  }

  apply(recorded: RecordedEvent, db: DatabaseSync): void {
    this.applyBatch([recorded], db);
  }

  /** One upsert row per completed request, a statement per few hundred (MultiRowInsert). */
  applyBatch(events: readonly RecordedEvent[], db: DatabaseSync): void {
    const values: SQLInputValue[] = [];
    for (const recorded of events) {
      if (recorded.type !== "InferenceCompleted") continue;
      const completed = recorded.data as InferenceCompleted;
      values.push(completed.accountId, completed.finishedAt.slice(0, 10));
    }
    countRequests.run(db, values);
  }
}

/** Requests the account completed on a UTC day (`YYYY-MM-DD`). */
export function requestsOn(db: DatabaseSync, accountId: string, day: string): number {
  const row = prepared(
    db,
    "SELECT requests FROM billing_request_days WHERE account_id = ? AND day = ?",
  ).get(accountId, day) as { requests: number } | undefined;
  return row?.requests ?? 0;
}
