import { deciderSpec } from "../../test/support/decider-spec.ts";
import { type JobCommand, jobDecider, JobRejected } from "./job.decider.ts";
import type { JobEvent, JobSubmitted } from "./job.events.ts";

const at = "2026-01-01T00:00:00.000Z";
const submitted: JobSubmitted = {
  type: "JobSubmitted",
  data: {
    jobId: "gen_1",
    accountId: "acct_1",
    kind: "image",
    model: "flux-dev",
    endpointId: "flux-dev",
    runpodJobId: "sync-1",
    mode: "runsync",
    priceMicros: 20_000,
    estimatedTimeMs: 30_000,
    parameters: { width: 1024 },
    at,
  },
};
const completed: JobEvent = {
  type: "JobCompleted",
  data: {
    jobId: "gen_1",
    runpodJobId: "sync-1",
    outputs: [],
    executionTimeMs: 5,
    delayTimeMs: 1,
    at,
  },
};
const complete: JobCommand = { type: "CompleteJob", data: completed.data as any };
const fail: JobCommand = {
  type: "FailJob",
  data: { jobId: "gen_1", runpodJobId: "sync-1", reason: "FAILED", error: "boom", at },
};
const cancel: JobCommand = {
  type: "CancelJob",
  data: { jobId: "gen_1", actor: "account:acct_1", at },
};

const spec = deciderSpec(jobDecider);

describe("job decider", () => {
  it("submits a new job", () => {
    spec.given([]).when({ type: "SubmitJob", data: submitted.data }).then([submitted]);
  });

  it("refuses to submit the same job twice", () => {
    spec.given([submitted]).when({ type: "SubmitJob", data: submitted.data }).thenRejects(
      "job_exists",
    );
  });

  it("completes a processing job once; a second completion decides nothing", () => {
    spec.given([submitted]).when(complete).then([completed]);
    spec.given([submitted, completed]).when(complete).then([]);
  });

  it("does not fail a completed job (no refund of a paid job by a late poll)", () => {
    spec.given([submitted, completed]).when(fail).then([]);
  });

  it("cancels a processing job, carrying RunPod's job id", () => {
    spec.given([submitted]).when(cancel).then([{
      type: "JobCancelled",
      data: { jobId: "gen_1", runpodJobId: "sync-1", actor: "account:acct_1", at },
    }]);
  });

  it("refuses to cancel a completed job, and cancelling twice decides nothing", () => {
    spec.given([submitted, completed]).when(cancel).thenRejects(
      "job_finished",
      /already completed/,
    );
    const cancelled = spec.given([submitted]).when(cancel).then();
    spec.given([submitted, ...cancelled]).when(cancel).then([]);
    spec.given([submitted, ...cancelled]).when(complete).then([]);
  });

  it("refuses to end a job that was never submitted", () => {
    spec.given([]).when(complete).thenRejects("unknown_job", /No job/);
  });

  it("refuses with a JobRejected, a domain error the exception filter maps", () => {
    expect(() => jobDecider.decide(complete, jobDecider.initialState())).toThrow(JobRejected);
  });
});
