import { Inject, Injectable } from "@nestjs/common";
import { ReadModelDatabase } from "../projections/read-model.database.ts";
import type { ArtifactRef, GenerationKind, JobFailureReason } from "./job.events.ts";

/** A job as the job-status projection holds it. */
export interface JobView {
  id: string;
  accountId: string;
  kind: GenerationKind;
  model: string;
  endpointId: string;
  runpodJobId: string | null;
  mode: "runsync" | "run";
  status: "processing" | "completed" | "failed" | "cancelled";
  priceMicros: number;
  estimatedTimeMs: number;
  parameters: Record<string, unknown>;
  submittedAt: string;
  finishedAt: string | null;
  executionTimeMs: number | null;
  delayTimeMs: number | null;
  failureReason: JobFailureReason | null;
  error: string | null;
  outputs: ArtifactRef[];
  text: string | null;
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number } | null;
  sampleRate: number | null;
  charged: boolean;
  released: boolean;
}

export interface ArtifactView {
  id: string;
  jobId: string;
  accountId: string;
  contentType: string;
  bytes: number;
  filename: string;
}

/** Reads of the job-status projection only. */
@Injectable()
export class JobQueries {
  constructor(@Inject(ReadModelDatabase) private readonly readModels: ReadModelDatabase) {}

  /** By our job id or by RunPod's job id. */
  find(id: string): JobView | undefined {
    const row = this.readModels.db.prepare(
      "SELECT * FROM generation_jobs WHERE id = ? OR runpod_job_id = ? LIMIT 1",
    ).get(id, id);
    return row ? toView(row) : undefined;
  }

  /** The account's job (by either id), or undefined: other accounts' jobs do not exist. */
  findForAccount(accountId: string, id: string): JobView | undefined {
    const job = this.find(id);
    return job && job.accountId === accountId ? job : undefined;
  }

  /** Newest first; `before` is the id of the previous page's last job. */
  list(
    accountId: string,
    options: { limit: number; status?: string; kind?: string; before?: string },
  ): JobView[] {
    const where = ["account_id = ?"];
    const params: Array<string | number> = [accountId];
    if (options.status) {
      where.push("status = ?");
      params.push(options.status);
    }
    if (options.kind) {
      where.push("kind = ?");
      params.push(options.kind);
    }
    if (options.before) {
      where.push("rowid < (SELECT rowid FROM generation_jobs WHERE id = ?)");
      params.push(options.before);
    }
    params.push(options.limit);
    return this.readModels.db.prepare(
      `SELECT * FROM generation_jobs WHERE ${where.join(" AND ")}
       ORDER BY rowid DESC LIMIT ?`,
    ).all(...params).map(toView);
  }

  /** Jobs RunPod still has to finish (the poller's work list), oldest first. */
  openJobs(limit: number): JobView[] {
    return this.readModels.db.prepare(
      `SELECT * FROM generation_jobs WHERE status = 'processing' AND runpod_job_id IS NOT NULL
       ORDER BY submitted_at LIMIT ?`,
    ).all(limit).map(toView);
  }

  /** Finished jobs the ledger has not yet charged (completed) or released (not completed). */
  unbilledJobs(limit: number): JobView[] {
    return this.readModels.db.prepare(
      `SELECT * FROM generation_jobs WHERE
         (status = 'completed' AND charged = 0) OR
         (status IN ('failed', 'cancelled') AND charged = 0 AND released = 0)
       LIMIT ?`,
    ).all(limit).map(toView);
  }

  artifact(id: string): ArtifactView | undefined {
    const row = this.readModels.db.prepare("SELECT * FROM generation_artifacts WHERE id = ?")
      .get(id) as Record<string, any> | undefined;
    if (!row) return undefined;
    return {
      id: row.id,
      jobId: row.job_id,
      accountId: row.account_id,
      contentType: row.content_type,
      bytes: Number(row.bytes),
      filename: row.filename,
    };
  }
}

function toView(raw: unknown): JobView {
  const row = raw as Record<string, any>;
  return {
    id: row.id,
    accountId: row.account_id,
    kind: row.kind,
    model: row.model,
    endpointId: row.endpoint_id,
    runpodJobId: row.runpod_job_id ?? null,
    mode: row.mode,
    status: row.status,
    priceMicros: Number(row.price_micros),
    estimatedTimeMs: Number(row.estimated_time_ms),
    parameters: JSON.parse(row.parameters),
    submittedAt: row.submitted_at,
    finishedAt: row.finished_at ?? null,
    executionTimeMs: row.execution_time_ms === null ? null : Number(row.execution_time_ms),
    delayTimeMs: row.delay_time_ms === null ? null : Number(row.delay_time_ms),
    failureReason: row.failure_reason ?? null,
    error: row.error ?? null,
    outputs: row.outputs ? JSON.parse(row.outputs) : [],
    text: row.text_output ?? null,
    usage: row.usage ? JSON.parse(row.usage) : null,
    sampleRate: row.sample_rate === null ? null : Number(row.sample_rate),
    charged: Boolean(row.charged),
    released: Boolean(row.released),
  };
}
