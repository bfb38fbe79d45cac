import { Inject, Injectable } from "@nestjs/common";
import { Buffer } from "node:buffer";
import { ARTIFACT_STORE, type ArtifactStore } from "../artifacts/artifact-store.ts";
import type { Principal } from "../auth/principal.ts";
import { LedgerService } from "../billing/ledger.service.ts";
import { type CatalogueModel, ModelCatalogue } from "../catalogue/catalogue.ts";
import { ApiError } from "../common/api-error.ts";
import { CLOCK, type Clock } from "../common/clock.ts";
import { newId } from "../common/ids.ts";
import { logger } from "../common/json-logger.ts";
import { APP_CONFIG, type AppConfig } from "../config/config.ts";
import type { EventMetadata } from "../event-store/event-store.port.ts";
import { ProjectionRunner } from "../projections/projection-runner.ts";
import { RunpodNotFound } from "../runpod/runpod-http.ts";
import { isTerminal, ServerlessClient, type ServerlessJob } from "../runpod/serverless.client.ts";
import { completedBody, statusBody } from "./generation.responses.ts";
import { parameterSummary, parseGenerationRequest } from "./generation.validation.ts";
import { type JobCommand, JobRejected } from "./job.decider.ts";
import type {
  ArtifactRef,
  GenerationKind,
  JobEvent,
  JobFailureReason,
  JobSubmitted,
} from "./job.events.ts";
import { JobCommandHandler } from "./job.handler.ts";
import { JobQueries, type JobView } from "./job.queries.ts";
import { JOB_STATUS_PROJECTION } from "./job-status.projection.ts";
import { downloadOutput } from "./output-download.ts";
import {
  type OutputFile,
  workerFormatOf,
  WorkerOutputError,
  type WorkerResult,
} from "./worker-formats.ts";

/** How long a job's hold lives: RunPod keeps a job at most 24 h (its default TTL). */
const HOLD_TTL_MS = 24 * 3600_000;

export interface SubmitResult {
  /** `completed`: answered in-line; `processing`: poll. */
  job: JobView;
}

/**
 * Pay-per-request generation: reserve the price, submit to RunPod, record the job's events,
 * store outputs as artifacts, and settle (completed) or release (anything else) the hold.
 */
@Injectable()
export class GenerationService {
  constructor(
    @Inject(ModelCatalogue) private readonly catalogue: ModelCatalogue,
    @Inject(LedgerService) private readonly ledger: LedgerService,
    @Inject(ServerlessClient) private readonly serverless: ServerlessClient,
    @Inject(JobCommandHandler) private readonly jobs: JobCommandHandler,
    @Inject(JobQueries) private readonly queries: JobQueries,
    @Inject(ARTIFACT_STORE) private readonly artifacts: ArtifactStore,
    @Inject(ProjectionRunner) private readonly runner: ProjectionRunner,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async submit(
    principal: Principal,
    kind: GenerationKind,
    body: unknown,
    requestId?: string,
  ): Promise<JobView> {
    const { request, model } = parseGenerationRequest(kind, body, this.catalogue);
    const format = workerFormatOf(model);
    const input = format.toInput(request, model);
    const jobId = newId(kind === "video" ? "vid" : "gen");
    const priceMicros = this.catalogue.priceMicros(model.id);
    const metadata: EventMetadata = {
      accountId: principal.accountId,
      actor: principal.actor,
      correlationId: jobId,
      ...(requestId ? { requestId } : {}),
    };
    const now = this.clock.now();
    await this.ledger.reserve(principal.accountId, {
      reservationId: jobId,
      amountMicros: priceMicros,
      reference: `job:${jobId}`,
      model: model.id,
      expiresAt: new Date(now.getTime() + HOLD_TTL_MS),
    }, { actor: principal.actor, correlationId: jobId, requestId });

    const mode = kind === "video" ? "run" : "runsync";
    const submitted = (runpodJobId: string | null): JobCommand => ({
      type: "SubmitJob",
      data: {
        jobId,
        accountId: principal.accountId,
        kind,
        model: model.id,
        endpointId: model.runpod_endpoint_id,
        runpodJobId,
        mode,
        priceMicros,
        estimatedTimeMs: model.estimated_time_ms ?? 30_000,
        parameters: parameterSummary(request),
        at: now.toISOString(),
      } satisfies JobSubmitted["data"],
    });

    let runpodJob: ServerlessJob;
    try {
      runpodJob = mode === "run"
        ? await this.serverless.run(model.runpod_endpoint_id, input)
        : await this.serverless.runSync(model.runpod_endpoint_id, input, {
          waitMs: this.config.generationSyncWaitMs,
        });
      if (typeof runpodJob?.id !== "string") throw new Error("RunPod answered without a job id");
    } catch (error) {
      // RunPod may or may not have queued it; either way nothing is charged.
      const failed = await this.jobs.execute(jobId, [
        submitted(null),
        this.failCommand(jobId, null, "SUBMIT_FAILED", (error as Error).message),
      ], metadata);
      await this.bill(principal.accountId, jobId, failed.events);
      throw new ApiError(
        502,
        `The model '${model.id}' could not take the job; you were not charged.`,
        {
          type: "api_error",
          code: "upstream_unavailable",
          extra: { job_id: jobId },
        },
      );
    }

    const commands: JobCommand[] = [submitted(runpodJob.id)];
    if (isTerminal(runpodJob.status)) {
      const finish = await this.finishCommand(jobId, model, runpodJob).catch((error) => {
        // Storing the output failed for a reason that may pass (a download): the poller retries.
        logger.write("warn", "could not store a job's output; the poller will retry", {
          jobId,
          error: (error as Error).message,
        });
        return undefined;
      });
      if (finish) commands.push(finish);
    }
    const result = await this.jobs.execute(jobId, commands, metadata);
    await this.bill(principal.accountId, jobId, result.events);
    await this.runner.waitFor(result.position, [JOB_STATUS_PROJECTION]);
    const job = this.queries.find(jobId);
    if (!job) {
      throw new ApiError(503, "The job read model is behind; poll the job.", {
        code: "projection_lagging",
      });
    }
    return job;
  }

  /** Polls RunPod once for an open job and records its end if it has one. */
  async refresh(job: JobView): Promise<JobEvent[]> {
    if (job.status !== "processing" || !job.runpodJobId) return [];
    let runpodJob: ServerlessJob;
    try {
      runpodJob = await this.serverless.status(job.endpointId, job.runpodJobId);
    } catch (error) {
      if (!(error instanceof RunpodNotFound)) throw error;
      // Past RunPod's retention or TTL: the result is gone, and it is not billed.
      runpodJob = {
        id: job.runpodJobId,
        status: "FAILED",
        error: "the job no longer exists on RunPod",
      };
      return this.finish(job, runpodJob, "LOST");
    }
    if (!isTerminal(runpodJob.status)) return [];
    return this.finish(job, runpodJob);
  }

  private async finish(
    job: JobView,
    runpodJob: ServerlessJob,
    reason?: "LOST",
  ): Promise<JobEvent[]> {
    const model = this.catalogue.get(job.model);
    let command: JobCommand;
    if (reason) {
      command = this.failCommand(job.id, job.runpodJobId, reason, runpodJob.error ?? "lost");
    } else if (!model) {
      command = this.failCommand(
        job.id,
        job.runpodJobId,
        "BAD_OUTPUT",
        `model ${job.model} is no longer in the catalogue`,
      );
    } else command = await this.finishCommand(job.id, model, runpodJob);
    const result = await this.jobs.execute(job.id, [command], {
      accountId: job.accountId,
      actor: "system:generation-poller",
      correlationId: job.id,
    });
    await this.bill(job.accountId, job.id, result.events);
    return result.events;
  }

  /** The command that ends a job RunPod finished: outputs stored first, then CompleteJob. */
  private async finishCommand(
    jobId: string,
    model: CatalogueModel,
    runpodJob: ServerlessJob,
  ): Promise<JobCommand> {
    const at = () => this.clock.now().toISOString();
    if (runpodJob.status === "CANCELLED") {
      return { type: "CancelJob", data: { jobId, actor: "system:runpod", at: at() } };
    }
    if (runpodJob.status !== "COMPLETED") {
      return this.failCommand(
        jobId,
        runpodJob.id,
        runpodJob.status === "TIMED_OUT" ? "TIMED_OUT" : "FAILED",
        describeError(runpodJob.error) ?? `RunPod reported ${runpodJob.status}`,
        runpodJob.executionTime,
      );
    }
    let result: WorkerResult;
    let outputs: ArtifactRef[];
    try {
      result = workerFormatOf(model).fromOutput(runpodJob.output, runpodJob.id);
      outputs = await Promise.all(
        result.files.map((file, index) => this.store(jobId, index, file)),
      );
    } catch (error) {
      if (!(error instanceof WorkerOutputError)) throw error;
      return this.failCommand(jobId, runpodJob.id, "BAD_OUTPUT", error.message);
    }
    return {
      type: "CompleteJob",
      data: {
        jobId,
        runpodJobId: runpodJob.id,
        outputs,
        ...(result.text !== undefined ? { text: result.text } : {}),
        ...(result.usage ? { usage: result.usage } : {}),
        ...(result.sampleRate !== undefined ? { sampleRate: result.sampleRate } : {}),
        executionTimeMs: runpodJob.executionTime ?? 0,
        delayTimeMs: runpodJob.delayTime ?? 0,
        at: at(),
      },
    };
  }

  private failCommand(
    jobId: string,
    runpodJobId: string | null,
    reason: JobFailureReason,
    error: string,
    executionTimeMs?: number,
  ): JobCommand {
    return {
      type: "FailJob",
      data: {
        jobId,
        runpodJobId,
        reason,
        error,
        ...(executionTimeMs !== undefined ? { executionTimeMs } : {}),
        at: this.clock.now().toISOString(),
      },
    };
  }

  private async store(jobId: string, index: number, file: OutputFile): Promise<ArtifactRef> {
    const data = "base64" in file.source
      ? decodeBase64(file.source.base64)
      : await downloadOutput(file.source.url, {
        allowPrivate: this.config.allowPrivateUpstreams,
        // The operator's own RunPod API host is trusted (the simulator serves outputs from it).
        trustedOrigins: [new URL(this.config.runpodApiUrl).origin],
      });
    const extension = EXTENSIONS[file.contentType] ?? "bin";
    const artifactId = `${jobId}_${index}.${extension}`;
    const stored = await this.artifacts.put(artifactId, data, file.contentType);
    return {
      artifactId,
      contentType: file.contentType,
      bytes: stored.bytes,
      filename: file.filename,
    };
  }

  /**
   * Completed → settle the hold (once per job: the ledger settles a reservation once);
   * anything else → release it. Failures are logged: the poller finishes billing later.
   */
  async bill(accountId: string, jobId: string, events: JobEvent[]): Promise<void> {
    for (const event of events) {
      try {
        if (event.type === "JobCompleted") {
          const job = this.queries.find(jobId);
          await this.settle(accountId, jobId, job);
        } else if (event.type === "JobFailed" || event.type === "JobCancelled") {
          await this.ledger.release(accountId, {
            reservationId: jobId,
            reason: event.type === "JobCancelled"
              ? "job_cancelled"
              : `job_${event.data.reason.toLowerCase()}`,
          }, { actor: "system:generation", correlationId: jobId });
        }
      } catch (error) {
        logger.write("warn", "job billing deferred", { jobId, error: (error as Error).message });
      }
    }
  }

  /** Settles a completed job's hold at its submitted price. */
  async settle(accountId: string, jobId: string, known?: JobView): Promise<void> {
    const { state } = known ? { state: undefined } : await this.jobs.load(jobId);
    const priceMicros = known?.priceMicros ?? state?.priceMicros;
    const model = known?.model ?? state?.model;
    const kind = known?.kind ?? state?.kind;
    if (priceMicros === undefined) throw new Error(`job ${jobId} has no price`);
    await this.ledger.settle(accountId, {
      reservationId: jobId,
      amountMicros: priceMicros,
      reference: `job:${jobId}`,
      ...(model ? { model } : {}),
      ...(kind ? { kind } : {}),
    }, { actor: "system:generation", correlationId: jobId });
  }

  async release(accountId: string, jobId: string, reason: string): Promise<void> {
    await this.ledger.release(accountId, { reservationId: jobId, reason }, {
      actor: "system:generation",
      correlationId: jobId,
    });
  }

  /** Cancels an open job on RunPod and records it; a job RunPod already finished is recorded as such. */
  async cancel(principal: Principal, id: string): Promise<JobView> {
    const job = this.queries.findForAccount(principal.accountId, id);
    if (!job) throw ApiError.notFound(`No job '${id}'.`, "job_not_found", "job_id");
    if (job.status === "cancelled") return job;
    if (job.status !== "processing") {
      throw ApiError.conflict(
        `Job '${job.id}' is already ${job.status} and cannot be cancelled.`,
        "job_not_cancellable",
      );
    }
    let runpodJob: ServerlessJob | undefined;
    if (job.runpodJobId) {
      try {
        runpodJob = await this.serverless.cancel(job.endpointId, job.runpodJobId);
      } catch (error) {
        if (!(error instanceof RunpodNotFound)) {
          throw new ApiError(502, `RunPod did not cancel job '${job.id}'; try again.`, {
            type: "api_error",
            code: "upstream_unavailable",
          });
        }
      }
    }
    let events: JobEvent[];
    let position = 0n;
    if (runpodJob && isTerminal(runpodJob.status) && runpodJob.status !== "CANCELLED") {
      // It finished before the cancel reached it: record how it really ended.
      const full = await this.serverless.status(job.endpointId, runpodJob.id);
      events = await this.finish(job, full);
    } else {
      try {
        const result = await this.jobs.execute(job.id, [{
          type: "CancelJob",
          data: { jobId: job.id, actor: principal.actor, at: this.clock.now().toISOString() },
        }], { accountId: principal.accountId, actor: principal.actor, correlationId: job.id });
        events = result.events;
        position = result.position;
        await this.bill(principal.accountId, job.id, events);
      } catch (error) {
        if (error instanceof JobRejected) {
          throw ApiError.conflict(error.message, "job_not_cancellable");
        }
        throw error;
      }
    }
    await this.runner.waitFor(position || await this.headPosition(), [JOB_STATUS_PROJECTION]);
    const after = this.queries.find(job.id)!;
    if (after.status === "completed" || after.status === "failed") {
      throw ApiError.conflict(
        `Job '${job.id}' is already ${after.status} and cannot be cancelled.`,
        "job_not_cancellable",
      );
    }
    return after;
  }

  private async headPosition(): Promise<bigint> {
    return (await this.runner.status())[0]?.head ?? 0n;
  }

  /** The job's status body, from the projection. */
  statusBody(job: JobView): Promise<Record<string, unknown>> {
    return statusBody(job, (id) => this.artifactBytes(id), this.config.publicBaseUrl);
  }

  completedBody(job: JobView): Promise<Record<string, unknown>> {
    return completedBody(job, (id) => this.artifactBytes(id), this.config.publicBaseUrl);
  }

  private async artifactBytes(id: string): Promise<Uint8Array> {
    const data = await this.artifacts.get(id);
    if (!data) {
      throw new ApiError(500, `Artifact '${id}' is missing from the store.`, {
        code: "artifact_missing",
      });
    }
    return data;
  }
}

const EXTENSIONS: Record<string, string> = {
  "image/png": "png",
  "image/jpeg": "jpg",
  "audio/wav": "wav",
  "video/mp4": "mp4",
};

function decodeBase64(text: string): Uint8Array {
  const data = Buffer.from(text, "base64");
  if (data.length === 0) throw new WorkerOutputError("the worker returned an empty file");
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * RunPod's error is a string, sometimes JSON with `error_message` (and a worker traceback we
 * must not show). Clients get one short line; a traceback-looking text is cut to its first line.
 */
const MAX_ERROR_LENGTH = 300;

export function describeError(error: unknown): string | undefined {
  if (error === undefined || error === null) return undefined;
  let text = typeof error === "string" ? error : JSON.stringify(error);
  try {
    const parsed = JSON.parse(text);
    const message = parsed?.error_message ?? parsed?.error?.message ??
      (typeof parsed?.error === "string" ? parsed.error : undefined);
    if (typeof message === "string") text = message;
  } catch {
    // not JSON: the text itself
  }
  const firstLine = text.split(/\r?\n/).find((line) => line.trim() !== "")?.trim() ?? "";
  const oneLine = /^Traceback \(most recent call last\)/.test(firstLine)
    ? "the worker raised an error"
    : firstLine;
  return oneLine.length > MAX_ERROR_LENGTH ? `${oneLine.slice(0, MAX_ERROR_LENGTH)}…` : oneLine;
}
