import { Inject, Injectable } from "@nestjs/common";
import type { Principal } from "../auth/principal.ts";
import { LedgerService } from "../billing/ledger.service.ts";
import { ModelCatalogue } from "../catalogue/catalogue.ts";
import { ApiError } from "../common/api-error.ts";
import { CLOCK, type Clock } from "../common/clock.ts";
import { newId } from "../common/ids.ts";
import { logger } from "../common/json-logger.ts";
import { APP_CONFIG, type AppConfig } from "../config/config.ts";
import type { EventMetadata } from "../event-store/event-store.port.ts";
import { ProjectionRunner } from "../projections/projection-runner.ts";
import { RunpodNotFound } from "../runpod/runpod-http.ts";
import { isTerminal, ServerlessClient, type ServerlessJob } from "../runpod/serverless.client.ts";
import { parameterSummary, parseGenerationRequest } from "./generation.validation.ts";
import type { JobCommand } from "./job.decider.ts";
import type { GenerationKind, JobEvent, JobSubmitted } from "./job.events.ts";
import { JobCommandHandler } from "./job.handler.ts";
import { JobQueries, type JobView } from "./job.queries.ts";
import { JobBilling } from "./job-billing.ts";
import { JobOutcome } from "./job-outcome.ts";
import { JOB_STATUS_PROJECTION } from "./job-status.projection.ts";
import { workerFormatOf } from "./worker-formats.ts";

/** How long a job's hold lives: RunPod keeps a job at most 24 h (its default TTL). */
const HOLD_TTL_MS = 24 * 3600_000;

/**
 * Pay-per-request generation: reserve the price, submit to RunPod, record the job's events
 * (the outcome's command), and bill the hold; refresh a polled job; cancel an open one.
 */
@Injectable()
export class GenerationService {
  constructor(
    @Inject(ModelCatalogue) private readonly catalogue: ModelCatalogue,
    @Inject(LedgerService) private readonly ledger: LedgerService,
    @Inject(ServerlessClient) private readonly serverless: ServerlessClient,
    @Inject(JobCommandHandler) private readonly jobs: JobCommandHandler,
    @Inject(JobQueries) private readonly queries: JobQueries,
    @Inject(JobOutcome) private readonly outcome: JobOutcome,
    @Inject(JobBilling) private readonly billing: JobBilling,
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
        this.outcome.failure(jobId, null, "SUBMIT_FAILED", (error as Error).message),
      ], metadata);
      await this.billing.bill(principal.accountId, jobId, failed.newEvents);
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
      const finish = await this.outcome.commandFor(jobId, model, runpodJob).catch((error) => {
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
    await this.billing.bill(principal.accountId, jobId, result.newEvents);
    await this.untilShown(result.position);
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
      command = this.outcome.failure(job.id, job.runpodJobId, reason, runpodJob.error ?? "lost");
    } else if (!model) {
      command = this.outcome.failure(
        job.id,
        job.runpodJobId,
        "BAD_OUTPUT",
        `model ${job.model} is no longer in the catalogue`,
      );
    } else command = await this.outcome.commandFor(job.id, model, runpodJob);
    const result = await this.jobs.execute(job.id, [command], {
      accountId: job.accountId,
      actor: "system:generation-poller",
      correlationId: job.id,
    });
    await this.billing.bill(job.accountId, job.id, result.newEvents);
    return result.newEvents;
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
    let position: bigint | undefined;
    if (runpodJob && isTerminal(runpodJob.status) && runpodJob.status !== "CANCELLED") {
      // It finished before the cancel reached it: record how it really ended.
      const full = await this.serverless.status(job.endpointId, runpodJob.id);
      await this.finish(job, full);
    } else {
      // A job that ended meanwhile is refused by the decider (job_finished: 409).
      const result = await this.jobs.execute(job.id, [{
        type: "CancelJob",
        data: { jobId: job.id, actor: principal.actor, at: this.clock.now().toISOString() },
      }], { accountId: principal.accountId, actor: principal.actor, correlationId: job.id });
      position = result.position;
      await this.billing.bill(principal.accountId, job.id, result.newEvents);
    }
    await this.untilShown(position);
    const after = this.queries.find(job.id)!;
    if (after.status === "completed" || after.status === "failed") {
      throw ApiError.conflict(
        `Job '${job.id}' is already ${after.status} and cannot be cancelled.`,
        "job_not_cancellable",
      );
    }
    return after;
  }

  /** Waits until the job-status rows show `position`, or everything written so far. */
  private untilShown(position: bigint | undefined): Promise<void> {
    return position === undefined
      ? this.runner.untilCurrent([JOB_STATUS_PROJECTION])
      : this.runner.waitFor(position, [JOB_STATUS_PROJECTION]);
  }
}
