import type { RecordedEvent } from "../event-store/event-store.port.ts";
import { ReadModelDatabase } from "../projections/read-model.database.ts";
import type { JobEvent } from "./job.events.ts";
import { JobQueries } from "./job.queries.ts";
import { JobStatusProjection } from "./job-status.projection.ts";

const at = "2026-01-01T00:00:00.000Z";
let position = 0n;

function recorded(stream: string, event: { type: string; data: unknown }): RecordedEvent {
  position++;
  return {
    id: `e${position}`,
    type: event.type,
    data: event.data,
    metadata: {},
    stream,
    revision: 0n,
    position,
    createdAt: new Date(at),
  };
}

function submitted(jobId: string, accountId: string): JobEvent {
  return {
    type: "JobSubmitted",
    data: {
      jobId,
      accountId,
      kind: "image",
      model: "sdxl",
      endpointId: "sdxl",
      runpodJobId: `sync-${jobId}`,
      mode: "runsync",
      priceMicros: 5_000,
      estimatedTimeMs: 15_000,
      parameters: { width: 512 },
      at,
    },
  };
}

describe("job-status projection", () => {
  let readModels: ReadModelDatabase;
  let queries: JobQueries;
  const projection = new JobStatusProjection();
  const apply = (stream: string, event: { type: string; data: unknown }) =>
    projection.apply(recorded(stream, event), readModels.db);

  beforeEach(() => {
    readModels = new ReadModelDatabase(":memory:");
    projection.setup(readModels.db);
    queries = new JobQueries(readModels);
  });

  afterEach(() => readModels.close());

  it("tracks a job from open to completed, with its artifacts and charge", () => {
    apply("job-gen_a", submitted("gen_a", "acct_1"));
    expect(queries.openJobs(10).map((job) => job.id)).toEqual(["gen_a"]);
    expect(queries.find("sync-gen_a")?.id).toBe("gen_a");
    apply("job-gen_a", {
      type: "JobCompleted",
      data: {
        jobId: "gen_a",
        runpodJobId: "sync-gen_a",
        outputs: [{
          artifactId: "gen_a_0.png",
          contentType: "image/png",
          bytes: 123,
          filename: "a.png",
        }],
        executionTimeMs: 40,
        delayTimeMs: 2,
        at,
      },
    });
    expect(queries.openJobs(10)).toEqual([]);
    expect(queries.unbilledJobs(10).map((job) => job.id)).toEqual(["gen_a"]);
    expect(queries.artifact("gen_a_0.png")).toMatchObject({
      jobId: "gen_a",
      accountId: "acct_1",
      bytes: 123,
    });
    apply("ledger-acct_1", {
      type: "CreditsCharged",
      data: {
        accountId: "acct_1",
        chargeId: "gen_a",
        reservationId: "gen_a",
        amountMicros: 5_000,
        at,
      },
    });
    expect(queries.unbilledJobs(10)).toEqual([]);
    expect(queries.findForAccount("acct_1", "gen_a")).toMatchObject({
      status: "completed",
      charged: true,
      executionTimeMs: 40,
      outputs: [{ artifactId: "gen_a_0.png" }],
    });
    expect(queries.findForAccount("acct_2", "gen_a")).toBeUndefined();
  });

  it("leaves a failed job unbilled until its hold is released", () => {
    apply("job-gen_b", submitted("gen_b", "acct_1"));
    apply("job-gen_b", {
      type: "JobFailed",
      data: { jobId: "gen_b", runpodJobId: "sync-gen_b", reason: "TIMED_OUT", error: "slow", at },
    });
    expect(queries.unbilledJobs(10).map((job) => job.id)).toEqual(["gen_b"]);
    apply("ledger-acct_1", {
      type: "ReservationReleased",
      data: { accountId: "acct_1", reservationId: "gen_b", amountMicros: 5_000, reason: "x", at },
    });
    expect(queries.unbilledJobs(10)).toEqual([]);
    expect(queries.find("gen_b")).toMatchObject({ status: "failed", failureReason: "TIMED_OUT" });
  });
});
