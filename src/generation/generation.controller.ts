import { Body, Controller, Get, HttpCode, Inject, Param, Post, Req } from "@nestjs/common";
import { ARTIFACT_STORE, type ArtifactStore } from "../artifacts/artifact-store.ts";
import { CurrentPrincipal, RequirePermission } from "../auth/auth.decorators.ts";
import type { Principal } from "../auth/principal.ts";
import { ApiError } from "../common/api-error.ts";
import { APP_CONFIG, type AppConfig } from "../config/config.ts";
import {
  type ArtifactBytes,
  completedBody,
  processingBody,
  statusBody,
  storedArtifactBytes,
} from "./generation.responses.ts";
import { GenerationService } from "./generation.service.ts";
import { GENERATION_KINDS, type GenerationKind } from "./job.events.ts";
import { JobQueries, type JobView } from "./job.queries.ts";

/**
 * Pay-per-request generation: a warm worker's result comes back in-line, a cold one's as a
 * `poll_url`; video is always polled. Status polls read the job-status projection, never RunPod.
 */
@Controller("api/v1/generate")
@RequirePermission("proxy")
export class GenerationController {
  private readonly artifactBytes: ArtifactBytes;

  constructor(
    @Inject(GenerationService) private readonly generation: GenerationService,
    @Inject(JobQueries) private readonly queries: JobQueries,
    @Inject(ARTIFACT_STORE) artifacts: ArtifactStore,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.artifactBytes = storedArtifactBytes(artifacts);
  }

  @Post("image")
  @HttpCode(200)
  image(
    @CurrentPrincipal() principal: Principal,
    @Body() body: unknown,
    @Req() request: { id?: string },
  ) {
    return this.generate("image", principal, body, request.id);
  }

  @Post("audio")
  @HttpCode(200)
  audio(
    @CurrentPrincipal() principal: Principal,
    @Body() body: unknown,
    @Req() request: { id?: string },
  ) {
    return this.generate("audio", principal, body, request.id);
  }

  @Post("video")
  @HttpCode(200)
  video(
    @CurrentPrincipal() principal: Principal,
    @Body() body: unknown,
    @Req() request: { id?: string },
  ) {
    return this.generate("video", principal, body, request.id);
  }

  @Post("text")
  @HttpCode(200)
  text(
    @CurrentPrincipal() principal: Principal,
    @Body() body: unknown,
    @Req() request: { id?: string },
  ) {
    return this.generate("text", principal, body, request.id);
  }

  /** `endpoint_id` and `model` of the documented poll_url are accepted; the job id suffices. */
  @Get(":kind/status/:jobId")
  async status(
    @CurrentPrincipal() principal: Principal,
    @Param("kind") kind: string,
    @Param("jobId") jobId: string,
  ) {
    if (!GENERATION_KINDS.includes(kind as GenerationKind)) {
      throw ApiError.notFound(`Unknown generation kind '${kind}'.`, "not_found");
    }
    const job = this.queries.findForAccount(principal.accountId, jobId);
    if (!job || job.kind !== kind) {
      throw ApiError.notFound(`No ${kind} job '${jobId}'.`, "job_not_found", "job_id");
    }
    return statusBody(job, this.artifactBytes, this.config.publicBaseUrl);
  }

  private async generate(
    kind: GenerationKind,
    principal: Principal,
    body: unknown,
    requestId?: string,
  ) {
    const job = await this.generation.submit(principal, kind, body, requestId);
    return this.answer(job);
  }

  private answer(job: JobView): Promise<Record<string, unknown>> | Record<string, unknown> {
    switch (job.status) {
      case "completed":
        return completedBody(job, this.artifactBytes, this.config.publicBaseUrl);
      case "processing":
        return processingBody(job);
      case "cancelled":
        throw new ApiError(502, `Job '${job.id}' was cancelled on RunPod; you were not charged.`, {
          type: "api_error",
          code: "generation_cancelled",
          extra: { job_id: job.id },
        });
      case "failed": {
        const timedOut = job.failureReason === "TIMED_OUT";
        throw new ApiError(
          timedOut ? 504 : 502,
          `Generation ${timedOut ? "timed out" : "failed"}: ${
            job.error ?? "unknown error"
          }. You were not charged.`,
          {
            type: "api_error",
            code: timedOut ? "generation_timed_out" : "generation_failed",
            extra: { job_id: job.id },
          },
        );
      }
    }
  }
}
