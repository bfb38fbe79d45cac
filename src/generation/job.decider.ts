import { DomainError } from "../common/domain-error.ts";
import type { Micros } from "../common/money.ts";
import type { Decider } from "../event-store/command-handler.ts";
import type {
  GenerationKind,
  JobCompleted,
  JobEvent,
  JobFailed,
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

export type JobCommand =
  | { type: "SubmitJob"; data: JobSubmitted["data"] }
  | { type: "CompleteJob"; data: JobCompleted["data"] }
  | { type: "FailJob"; data: JobFailed["data"] }
  | { type: "CancelJob"; data: { jobId: string; actor: string; at: string } };

/** The job's rule refusals; the exception filter's table says how each reads over HTTP. */
export class JobRejected extends DomainError<"job_exists" | "unknown_job" | "job_finished"> {}

function decide(command: JobCommand, state: JobState): JobEvent[] {
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

function evolve(state: JobState, event: JobEvent): JobState {
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

export const jobDecider: Decider<JobCommand, JobEvent, JobState> = {
  decide,
  evolve,
  initialState: () => ({ status: "none" }),
};
