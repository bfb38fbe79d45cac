import type { Micros } from "../common/money.ts";

/**
 * The events of one generation job's stream `job-<jobId>`. Events are small facts: outputs are
 * artifact references with sizes, never the payload itself.
 */
export const JOB_CATEGORY = "job";

export function jobStream(jobId: string): string {
  return `${JOB_CATEGORY}-${jobId}`;
}

export type GenerationKind = "image" | "audio" | "video" | "text";
export const GENERATION_KINDS: readonly GenerationKind[] = ["image", "audio", "video", "text"];

/** A stored output file. */
export interface ArtifactRef {
  artifactId: string;
  contentType: string;
  bytes: number;
  filename: string;
}

/** The way RunPod ended a job that produced no output we could use. */
export type JobFailureReason = "FAILED" | "TIMED_OUT" | "LOST" | "SUBMIT_FAILED" | "BAD_OUTPUT";

export interface JobSubmitted {
  type: "JobSubmitted";
  data: {
    jobId: string;
    accountId: string;
    kind: GenerationKind;
    model: string;
    endpointId: string;
    /** RunPod's job id; null when the submission itself failed. */
    runpodJobId: string | null;
    /** `runsync` (warm answers in-line) or `run` (always polled). */
    mode: "runsync" | "run";
    priceMicros: Micros;
    estimatedTimeMs: number;
    /** The request's parameters without long text (the prompt's length only). */
    parameters: Record<string, unknown>;
    at: string;
  };
}

export interface JobCompleted {
  type: "JobCompleted";
  data: {
    jobId: string;
    runpodJobId: string;
    outputs: ArtifactRef[];
    /** Text jobs: the generated text (small, so it lives in the event). */
    text?: string;
    usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
    sampleRate?: number;
    executionTimeMs: number;
    delayTimeMs: number;
    at: string;
  };
}

export interface JobFailed {
  type: "JobFailed";
  data: {
    jobId: string;
    runpodJobId: string | null;
    reason: JobFailureReason;
    error: string;
    executionTimeMs?: number;
    at: string;
  };
}

export interface JobCancelled {
  type: "JobCancelled";
  data: { jobId: string; runpodJobId: string | null; actor: string; at: string };
}

export type JobEvent = JobSubmitted | JobCompleted | JobFailed | JobCancelled;

export const JOB_EVENT_TYPES: readonly JobEvent["type"][] = [
  "JobSubmitted",
  "JobCompleted",
  "JobFailed",
  "JobCancelled",
];
