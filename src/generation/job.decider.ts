import type { Micros } from "../common/money.ts";
import type {
  ArtifactRef,
  GenerationKind,
  JobCompleted,
  JobEvent,
  JobFailed,
  JobFailureReason,
  JobSubmitted,
} from "./job.events.ts";

/**
 * The job decider: pure rules over one job stream. A job is submitted once and ends once;
 * every later attempt to end it (a second poller instance, a late cancel) decides nothing, so
 * a job is completed, and charged, at most once.
 */

export type JobStatus = "none" | "processing" | "completed" | "failed" | "cancelled";

export interface JobState {
  status: JobStatus;
  jobId?: string;
  accountId?: string;
  kind?: GenerationKind;
  model?: string;
  endpointId?: string;
  runpodJobId?: string | null;
  priceMicros?: Micros;
}

export const initialJobState: JobState = { status: "none" };

export type JobCommand =
  | { type: "SubmitJob"; data: JobSubmitted["data"] }
  | { type: "CompleteJob"; data: JobCompleted["data"] }
  | { type: "FailJob"; data: JobFailed["data"] }
  | { type: "CancelJob"; data: { jobId: string; actor: string; at: string } };

export class JobRejected extends Error {
  override readonly name = "JobRejected";
  constructor(readonly code: "job_exists" | "unknown_job" | "job_finished", message: string) {
    super(message);
  }
}

export function decide(command: JobCommand, state: JobState): JobEvent[] {
  switch (command.type) {
    case "SubmitJob":
      if (state.status !== "none") {
        throw new JobRejected("job_exists", `Job '${command.data.jobId}' already exists.`);
      }
      return [{ type: "JobSubmitted", data: command.data }];
    case "CompleteJob":
      if (state.status === "none") throw unknown(command.data.jobId);
      if (state.status !== "processing") return [];
      return [{ type: "JobCompleted", data: command.data }];
    case "FailJob":
      if (state.status === "none") throw unknown(command.data.jobId);
      if (state.status !== "processing") return [];
      return [{ type: "JobFailed", data: command.data }];
    case "CancelJob":
      if (state.status === "none") throw unknown(command.data.jobId);
      if (state.status === "cancelled") return [];
      if (state.status !== "processing") {
        throw new JobRejected(
          "job_finished",
          `Job '${command.data.jobId}' is already ${state.status} and cannot be cancelled.`,
        );
      }
      return [{
        type: "JobCancelled",
        data: {
          jobId: command.data.jobId,
          runpodJobId: state.runpodJobId ?? null,
          actor: command.data.actor,
          at: command.data.at,
        },
      }];
  }
}

export function evolve(state: JobState, event: JobEvent): JobState {
  switch (event.type) {
    case "JobSubmitted":
      return {
        status: "processing",
        jobId: event.data.jobId,
        accountId: event.data.accountId,
        kind: event.data.kind,
        model: event.data.model,
        endpointId: event.data.endpointId,
        runpodJobId: event.data.runpodJobId,
        priceMicros: event.data.priceMicros,
      };
    case "JobCompleted":
      return { ...state, status: "completed" };
    case "JobFailed":
      return { ...state, status: "failed" };
    case "JobCancelled":
      return { ...state, status: "cancelled" };
  }
}

function unknown(jobId: string): JobRejected {
  return new JobRejected("unknown_job", `No job '${jobId}'.`);
}

export type { ArtifactRef, JobFailureReason };
