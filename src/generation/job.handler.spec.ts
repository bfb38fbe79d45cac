import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteEventStore } from "../event-store/sqlite-event-store.ts";
import { JobCommandHandler } from "./job.handler.ts";

describe("JobCommandHandler", () => {
  let dir: string;
  let stores: SqliteEventStore[];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "job-handler-"));
    stores = [];
  });

  afterEach(async () => {
    for (const store of stores) await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("lets exactly one of two instances complete a job", async () => {
    const path = join(dir, "events.sqlite");
    stores.push(new SqliteEventStore({ path }), new SqliteEventStore({ path }));
    const [one, two] = stores.map((store) => new JobCommandHandler(store));
    const at = "2026-01-01T00:00:00.000Z";
    await one.execute("gen_x", [{
      type: "SubmitJob",
      data: {
        jobId: "gen_x",
        accountId: "acct",
        kind: "audio",
        model: "kokoro",
        endpointId: "kokoro",
        runpodJobId: "sync-x",
        mode: "runsync",
        priceMicros: 2_000,
        estimatedTimeMs: 5_000,
        parameters: {},
        at,
      },
    }], {});
    const complete = (handler: JobCommandHandler) =>
      handler.execute("gen_x", [{
        type: "CompleteJob",
        data: {
          jobId: "gen_x",
          runpodJobId: "sync-x",
          outputs: [],
          executionTimeMs: 1,
          delayTimeMs: 0,
          at,
        },
      }], {});
    const results = await Promise.all([complete(one), complete(two), complete(one), complete(two)]);
    expect(results.filter((result) => result.newEvents.length === 1)).toHaveLength(1);
    expect(results.every((result) => result.newState.status === "completed")).toBe(true);
    const types = (await stores[0].readStream("job-gen_x")).map((event) => event.type);
    expect(types).toEqual(["JobSubmitted", "JobCompleted"]);
  });
});
