import { Inject, Injectable } from "@nestjs/common";
import { Buffer } from "node:buffer";
import { ARTIFACT_STORE, type ArtifactStore } from "../artifacts/artifact-store.ts";
import type { CatalogueModel } from "../catalogue/catalogue.ts";
import { CLOCK, type Clock } from "../common/clock.ts";
import { APP_CONFIG, type AppConfig } from "../config/config.ts";
import type { ServerlessJob } from "../runpod/serverless.client.ts";
import type { JobCommand } from "./job.decider.ts";
import type { ArtifactRef, JobFailureReason } from "./job.events.ts";
import { downloadOutput } from "./output-download.ts";
import {
  type OutputFile,
  workerFormatOf,
  WorkerOutputError,
  type WorkerResult,
} from "./worker-formats.ts";

/**
 * How a job RunPod ended becomes the command that records it: its outputs stored as artifacts
 * first, then CompleteJob; a cancel, a failure or an output we cannot use as CancelJob or FailJob.
 */
@Injectable()
export class JobOutcome {
  constructor(
    @Inject(ARTIFACT_STORE) private readonly artifacts: ArtifactStore,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** The command that ends a job RunPod finished: outputs stored first, then CompleteJob. */
  async commandFor(
    jobId: string,
    model: CatalogueModel,
    runpodJob: ServerlessJob,
  ): Promise<JobCommand> {
    const at = () => this.clock.now().toISOString();
    if (runpodJob.status === "CANCELLED") {
      return { type: "CancelJob", data: { jobId, actor: "system:runpod", at: at() } };
    }
    if (runpodJob.status !== "COMPLETED") {
      return this.failure(
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
      return this.failure(jobId, runpodJob.id, "BAD_OUTPUT", error.message);
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

  failure(
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
