import { Buffer } from "node:buffer";
import type { ArtifactStore } from "../artifacts/artifact-store.ts";
import { ApiError } from "../common/api-error.ts";
import { microsToUsd } from "../common/money.ts";
import type { JobView } from "./job.queries.ts";

/**
 * The documented response bodies. Image, audio and text bodies embed the output (base64 read
 * back from the artifact store); video points at the artifact URL. Status polls of a finished
 * job answer the same body plus its status.
 */

export type ArtifactBytes = (artifactId: string) => Promise<Uint8Array>;

/** Reads an artifact a finished job recorded; one missing from the store is a server fault. */
export function storedArtifactBytes(artifacts: ArtifactStore): ArtifactBytes {
  return async (id) => {
    const data = await artifacts.get(id);
    if (!data) {
      throw new ApiError(500, `Artifact '${id}' is missing from the store.`, {
        code: "artifact_missing",
      });
    }
    return data;
  };
}

export function pollUrl(job: JobView): string {
  const query = new URLSearchParams({ endpoint_id: job.endpointId, model: job.model });
  return `/api/v1/generate/${job.kind}/status/${job.id}?${query}`;
}

/**
 * Where a client downloads an artifact: an absolute, signed, expiring URL on the request's public
 * origin (generation.links.ts builds one per request), so it opens without an Authorization header.
 */
export type ArtifactLink = (artifactId: string) => string;

export const COLD_START_MESSAGE = "Cold start in progress. Poll the status URL every 10 seconds.";
export const VIDEO_MESSAGE =
  "Video generation is asynchronous. Poll the status URL until it completes.";

export function processingBody(job: JobView, message?: string): Record<string, unknown> {
  return {
    id: job.id,
    model: job.model,
    status: "processing",
    job_id: job.id,
    endpoint_id: job.endpointId,
    poll_url: pollUrl(job),
    message: message ?? (job.kind === "video" ? VIDEO_MESSAGE : COLD_START_MESSAGE),
    estimated_time_ms: job.estimatedTimeMs,
    ...(job.kind === "video" ? { cost: microsToUsd(job.priceMicros) } : {}),
  };
}

/** The body of a completed job (the synchronous answer). */
export async function completedBody(
  job: JobView,
  bytes: ArtifactBytes,
  link: ArtifactLink,
): Promise<Record<string, unknown>> {
  const cost = microsToUsd(job.priceMicros);
  const executionTimeMs = job.executionTimeMs ?? 0;
  switch (job.kind) {
    case "image":
      return {
        id: job.id,
        model: job.model,
        images: await Promise.all(job.outputs.map(async (output) => ({
          base64: Buffer.from(await bytes(output.artifactId)).toString("base64"),
          filename: output.filename,
          url: link(output.artifactId),
        }))),
        cost,
        execution_time_ms: executionTimeMs,
      };
    case "audio":
      return {
        id: job.id,
        model: job.model,
        audio: Buffer.from(await bytes(job.outputs[0].artifactId)).toString("base64"),
        format: "wav",
        sample_rate: job.sampleRate ?? 24_000,
        audio_url: link(job.outputs[0].artifactId),
        cost,
        execution_time_ms: executionTimeMs,
      };
    case "text":
      return {
        id: job.id,
        model: job.model,
        text: job.text ?? "",
        ...(job.usage ? { usage: job.usage } : {}),
        cost,
        execution_time_ms: executionTimeMs,
      };
    case "video":
      return {
        id: job.id,
        job_id: job.id,
        model: job.model,
        status: "COMPLETED",
        videos: job.outputs.map((output) => ({
          url: link(output.artifactId),
          content_type: output.contentType,
          bytes: output.bytes,
        })),
        cost,
        execution_time_ms: executionTimeMs,
      };
  }
}

/** A status poll's answer. Video keeps RunPod-style upper-case terminal states, as documented. */
export async function statusBody(
  job: JobView,
  bytes: ArtifactBytes,
  link: ArtifactLink,
): Promise<Record<string, unknown>> {
  const video = job.kind === "video";
  if (job.status === "processing") return processingBody(job, "Job is queued or running.");
  if (job.status === "completed") {
    const body = await completedBody(job, bytes, link);
    return video ? body : { ...body, status: "completed", job_id: job.id };
  }
  const status = job.status === "cancelled"
    ? "cancelled"
    : job.failureReason === "TIMED_OUT"
    ? "timed_out"
    : "failed";
  return {
    id: job.id,
    job_id: job.id,
    model: job.model,
    status: video ? status.toUpperCase() : status,
    ...(job.status === "failed"
      ? {
        error: { message: job.error ?? "The job failed.", code: job.failureReason?.toLowerCase() },
      }
      : {}),
    cost: 0,
    ...(job.executionTimeMs !== null ? { execution_time_ms: job.executionTimeMs } : {}),
  };
}

/** A job in the account's job list (`GET /api/jobs`). */
export function jobListEntry(job: JobView, link: ArtifactLink): Record<string, unknown> {
  return {
    id: job.id,
    object: "generation.job",
    kind: job.kind,
    model: job.model,
    status: job.status,
    endpoint_id: job.endpointId,
    runpod_job_id: job.runpodJobId,
    price: microsToUsd(job.priceMicros),
    cost: job.status === "completed" ? microsToUsd(job.priceMicros) : 0,
    parameters: job.parameters,
    submitted_at: job.submittedAt,
    finished_at: job.finishedAt,
    execution_time_ms: job.executionTimeMs,
    ...(job.status === "failed" ? { failure_reason: job.failureReason, error: job.error } : {}),
    outputs: job.outputs.map((output) => ({
      artifact_id: output.artifactId,
      url: link(output.artifactId),
      content_type: output.contentType,
      bytes: output.bytes,
      filename: output.filename,
    })),
    ...(job.text !== null ? { text: job.text } : {}),
    poll_url: pollUrl(job),
  };
}
