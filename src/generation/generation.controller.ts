import { ApiBody, ApiOperation, ApiTags } from "@nestjs/swagger";
import { ApiErrors } from "../api-docs/api-docs.decorators.ts";
import {
  GENERATE_AUDIO_REQUEST,
  GENERATE_IMAGE_REQUEST,
  GENERATE_TEXT_REQUEST,
  GENERATE_VIDEO_REQUEST,
} from "../api-docs/request-schemas.ts";
import { Body, Controller, Get, HttpCode, Inject, Param, Post, Req } from "@nestjs/common";
import { ARTIFACT_STORE, type ArtifactStore } from "../artifacts/artifact-store.ts";
import { CurrentPrincipal, RequirePermission } from "../auth/auth.decorators.ts";
import type { Principal } from "../auth/principal.ts";
import { ApiError } from "../common/api-error.ts";
import type { OriginRequest } from "../common/public-origin.ts";
import { ArtifactLinks } from "./artifact-links.ts";
import {
  type ArtifactBytes,
  type ArtifactLink,
  completedBody,
  processingBody,
  statusBody,
  storedArtifactBytes,
} from "./generation.responses.ts";
import { GenerationService } from "./generation.service.ts";
import { GENERATION_KINDS, type GenerationKind } from "./job.events.ts";
import { JobQueries, type JobView } from "./job.queries.ts";

/** The request's id (x-request-id) and what its public origin is read from. */
type LinkRequest = OriginRequest & { id?: string };

/**
 * Pay-per-request generation: a warm worker's result comes back in-line, a cold one's as a
 * `poll_url`; video is always polled. Status polls read the job-status projection, never RunPod.
 */
@Controller("api/v1/generate")
@RequirePermission("proxy")
@ApiTags("Generation")
export class GenerationController {
  private readonly artifactBytes: ArtifactBytes;

  constructor(
    @Inject(GenerationService) private readonly generation: GenerationService,
    @Inject(JobQueries) private readonly queries: JobQueries,
    @Inject(ARTIFACT_STORE) artifacts: ArtifactStore,
    @Inject(ArtifactLinks) private readonly links: ArtifactLinks,
  ) {
    this.artifactBytes = storedArtifactBytes(artifacts);
  }

  @Post("image")
  @ApiOperation({ summary: "Generate an image (in-line when warm, else a `poll_url`)" })
  @ApiBody({ schema: GENERATE_IMAGE_REQUEST })
  @ApiErrors(400, 402, [404, "`model_not_found`"], 502)
  @HttpCode(200)
  image(
    @CurrentPrincipal() principal: Principal,
    @Body() body: unknown,
    @Req() request: LinkRequest,
  ) {
    return this.generate("image", principal, body, request);
  }

  @Post("audio")
  @ApiOperation({ summary: "Generate speech (in-line when warm, else a `poll_url`)" })
  @ApiBody({ schema: GENERATE_AUDIO_REQUEST })
  @ApiErrors(400, 402, [404, "`model_not_found`"], 502)
  @HttpCode(200)
  audio(
    @CurrentPrincipal() principal: Principal,
    @Body() body: unknown,
    @Req() request: LinkRequest,
  ) {
    return this.generate("audio", principal, body, request);
  }

  @Post("video")
  @ApiOperation({ summary: "Generate a video (always asynchronous: a `poll_url`)" })
  @ApiBody({ schema: GENERATE_VIDEO_REQUEST })
  @ApiErrors(400, 402, [404, "`model_not_found`"], 502)
  @HttpCode(200)
  video(
    @CurrentPrincipal() principal: Principal,
    @Body() body: unknown,
    @Req() request: LinkRequest,
  ) {
    return this.generate("video", principal, body, request);
  }

  @Post("text")
  @ApiOperation({ summary: "Generate text with a serverless model" })
  @ApiBody({ schema: GENERATE_TEXT_REQUEST })
  @ApiErrors(400, 402, [404, "`model_not_found`"], 502)
  @HttpCode(200)
  text(
    @CurrentPrincipal() principal: Principal,
    @Body() body: unknown,
    @Req() request: LinkRequest,
  ) {
    return this.generate("text", principal, body, request);
  }

  /** `endpoint_id` and `model` of the documented poll_url are accepted; the job id suffices. */
  @Get(":kind/status/:jobId")
  @ApiOperation({ summary: "A generation job's status (and result once done)" })
  @ApiErrors([404, "`job_not_found`, or an unknown kind."], [
    502,
    "The job failed or was cancelled on RunPod (not charged).",
  ])
  async status(
    @CurrentPrincipal() principal: Principal,
    @Param("kind") kind: string,
    @Param("jobId") jobId: string,
    @Req() request: LinkRequest,
  ) {
    if (!GENERATION_KINDS.includes(kind as GenerationKind)) {
      throw ApiError.notFound(`Unknown generation kind '${kind}'.`, "not_found");
    }
    const job = this.queries.findForAccount(principal.accountId, jobId);
    if (!job || job.kind !== kind) {
      throw ApiError.notFound(`No ${kind} job '${jobId}'.`, "job_not_found", "job_id");
    }
    return statusBody(job, this.artifactBytes, this.links.for(request));
  }

  private async generate(
    kind: GenerationKind,
    principal: Principal,
    body: unknown,
    request: LinkRequest,
  ) {
    const job = await this.generation.submit(principal, kind, body, request.id);
    return this.answer(job, this.links.for(request));
  }

  private answer(
    job: JobView,
    link: ArtifactLink,
  ): Promise<Record<string, unknown>> | Record<string, unknown> {
    switch (job.status) {
      case "completed":
        return completedBody(job, this.artifactBytes, link);
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
