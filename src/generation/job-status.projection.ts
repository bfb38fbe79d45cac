import type { DatabaseSync } from "node:sqlite";
import type { CreditsCharged, ReservationReleased } from "../billing/ledger.events.ts";
import { prepared } from "../billing/prepared-statements.ts";
import type { RecordedEvent } from "../event-store/event-store.port.ts";
import type { Projection } from "../projections/projection.ts";
import { JOB_CATEGORY, JOB_EVENT_TYPES, type JobEvent } from "./job.events.ts";

export const JOB_STATUS_PROJECTION = "generation-jobs";

/** The ledger's events that close a job's hold: charged (settled) or released. */
type HoldClosed = CreditsCharged | ReservationReleased;
const HOLD_CLOSED_TYPES: readonly HoldClosed["type"][] = ["CreditsCharged", "ReservationReleased"];

/**
 * The job-status read model: one row per job (status polls, job lists and the poller's list
 * of open jobs read it), one row per output artifact (ownership for downloads), and whether
 * the ledger has charged the job or released its hold (from the ledger's own events), so the
 * poller can finish billing a job whose instance stopped between the two writes.
 */
export class JobStatusProjection implements Projection {
  readonly name = JOB_STATUS_PROJECTION;
  readonly version = 1;
  readonly filter = {
    eventTypes: [...JOB_EVENT_TYPES, ...HOLD_CLOSED_TYPES],
  };

  setup(db: DatabaseSync): void {
    db.exec(`
      CREATE TABLE IF NOT EXISTS generation_jobs (
        id TEXT PRIMARY KEY,
        account_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        model TEXT NOT NULL,
        endpoint_id TEXT NOT NULL,
        runpod_job_id TEXT,
        mode TEXT NOT NULL,
        status TEXT NOT NULL,
        price_micros INTEGER NOT NULL,
        estimated_time_ms INTEGER NOT NULL,
        parameters TEXT NOT NULL,
        submitted_at TEXT NOT NULL,
        finished_at TEXT,
        execution_time_ms INTEGER,
        delay_time_ms INTEGER,
        failure_reason TEXT,
        error TEXT,
        outputs TEXT,
        text_output TEXT,
        usage TEXT,
        sample_rate INTEGER,
        charged INTEGER NOT NULL DEFAULT 0,
        released INTEGER NOT NULL DEFAULT 0,
        position INTEGER NOT NULL
      );
      CREATE INDEX IF NOT EXISTS generation_jobs_account ON generation_jobs (account_id, submitted_at);
      CREATE INDEX IF NOT EXISTS generation_jobs_runpod ON generation_jobs (runpod_job_id);
      CREATE INDEX IF NOT EXISTS generation_jobs_status ON generation_jobs (status);
      CREATE TABLE IF NOT EXISTS generation_artifacts (
        id TEXT PRIMARY KEY,
        job_id TEXT NOT NULL,
        account_id TEXT NOT NULL,
        content_type TEXT NOT NULL,
        bytes INTEGER NOT NULL,
        filename TEXT NOT NULL
      );
    `);
  }

  reset(db: DatabaseSync): void {
    db.exec("DELETE FROM generation_jobs; DELETE FROM generation_artifacts;");
  }

  apply(recorded: RecordedEvent, db: DatabaseSync): void {
    if (HOLD_CLOSED_TYPES.includes(recorded.type as HoldClosed["type"])) {
      const event = recorded as unknown as HoldClosed;
      const reservationId = event.type === "CreditsCharged"
        ? event.data.reservationId ?? event.data.chargeId
        : event.data.reservationId;
      if (typeof reservationId !== "string") return;
      const column = event.type === "CreditsCharged" ? "charged" : "released";
      prepared(db, `UPDATE generation_jobs SET ${column} = 1 WHERE id = ?`).run(reservationId);
      return;
    }
    if (!recorded.stream.startsWith(`${JOB_CATEGORY}-`)) return;
    const event = recorded as unknown as JobEvent;
    switch (event.type) {
      case "JobSubmitted": {
        const data = event.data;
        prepared(
          db,
          `INSERT OR IGNORE INTO generation_jobs (id, account_id, kind, model, endpoint_id,
            runpod_job_id, mode, status, price_micros, estimated_time_ms, parameters, submitted_at,
            position) VALUES (?, ?, ?, ?, ?, ?, ?, 'processing', ?, ?, ?, ?, ?)`,
        ).run(
          data.jobId,
          data.accountId,
          data.kind,
          data.model,
          data.endpointId,
          data.runpodJobId,
          data.mode,
          data.priceMicros,
          data.estimatedTimeMs,
          JSON.stringify(data.parameters),
          data.at,
          recorded.position,
        );
        return;
      }
      case "JobCompleted": {
        const data = event.data;
        prepared(
          db,
          `UPDATE generation_jobs SET status = 'completed', finished_at = ?, execution_time_ms = ?,
            delay_time_ms = ?, outputs = ?, text_output = ?, usage = ?, sample_rate = ?,
            runpod_job_id = ?, position = ? WHERE id = ?`,
        ).run(
          data.at,
          data.executionTimeMs,
          data.delayTimeMs,
          JSON.stringify(data.outputs),
          data.text ?? null,
          data.usage ? JSON.stringify(data.usage) : null,
          data.sampleRate ?? null,
          data.runpodJobId,
          recorded.position,
          data.jobId,
        );
        const owner = prepared(db, "SELECT account_id FROM generation_jobs WHERE id = ?")
          .get(data.jobId) as { account_id: string } | undefined;
        if (!owner) return;
        const insert = prepared(
          db,
          `INSERT OR REPLACE INTO generation_artifacts (id, job_id, account_id, content_type, bytes,
            filename) VALUES (?, ?, ?, ?, ?, ?)`,
        );
        for (const output of data.outputs) {
          insert.run(
            output.artifactId,
            data.jobId,
            owner.account_id,
            output.contentType,
            output.bytes,
            output.filename,
          );
        }
        return;
      }
      case "JobFailed":
        prepared(
          db,
          `UPDATE generation_jobs SET status = 'failed', finished_at = ?, failure_reason = ?,
            error = ?, execution_time_ms = ?, position = ? WHERE id = ?`,
        ).run(
          event.data.at,
          event.data.reason,
          event.data.error,
          event.data.executionTimeMs ?? null,
          recorded.position,
          event.data.jobId,
        );
        return;
      case "JobCancelled":
        prepared(
          db,
          `UPDATE generation_jobs SET status = 'cancelled', finished_at = ?, position = ?
            WHERE id = ?`,
        ).run(event.data.at, recorded.position, event.data.jobId);
        return;
    }
  }
}
