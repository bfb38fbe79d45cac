import {
  decide,
  evolve,
  initialJobState,
  type JobCommand,
  JobRejected,
  type JobState,
} from "./job.decider.ts";
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

/** given(events).when(command) → the events decided (or the rejection). */
function given(events: JobEvent[]) {
  const state = events.reduce<JobState>(evolve, initialJobState);
  return { when: (command: JobCommand) => () => decide(command, state) };
}

describe("job decider", () => {
  it("submits a new job", () => {
    expect(given([]).when({ type: "SubmitJob", data: submitted.data })()).toEqual([submitted]);
  });

  it("refuses to submit the same job twice", () => {
    expect(given([submitted]).when({ type: "SubmitJob", data: submitted.data })).toThrow(
      JobRejected,
    );
  });

  it("completes a processing job once; a second completion decides nothing", () => {
    expect(given([submitted]).when(complete)()).toEqual([completed]);
    expect(given([submitted, completed]).when(complete)()).toEqual([]);
  });

  it("does not fail a completed job (no refund of a paid job by a late poll)", () => {
    expect(given([submitted, completed]).when(fail)()).toEqual([]);
  });

  it("cancels a processing job, carrying RunPod's job id", () => {
    expect(given([submitted]).when(cancel)()).toEqual([{
      type: "JobCancelled",
      data: { jobId: "gen_1", runpodJobId: "sync-1", actor: "account:acct_1", at },
    }]);
  });

  it("refuses to cancel a completed job, and cancelling twice decides nothing", () => {
    expect(given([submitted, completed]).when(cancel)).toThrow(/already completed/);
    const cancelled = given([submitted]).when(cancel)();
    expect(given([submitted, ...cancelled]).when(cancel)()).toEqual([]);
    expect(given([submitted, ...cancelled]).when(complete)()).toEqual([]);
  });

  it("refuses to end a job that was never submitted", () => {
    expect(given([]).when(complete)).toThrow(/No job/);
  });
});
