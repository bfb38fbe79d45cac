import { DatabaseSync } from "node:sqlite";
import type { RecordedEvent } from "../event-store/event-store.port.ts";
import { RequestCountsProjection, requestsOn } from "./request-counts.projection.ts";

function completed(accountId: string, finishedAt: string, position: number): RecordedEvent {
  return {
    type: "InferenceCompleted",
    data: { accountId, finishedAt, inferenceId: `inf_${position}` },
    streamId: `inference-inf_${position}`,
    position: BigInt(position),
  } as unknown as RecordedEvent;
}

describe("request counts read model", () => {
  it("counts completed requests per account and UTC day", () => {
    const db = new DatabaseSync(":memory:");
    const projection = new RequestCountsProjection();
    projection.setup(db);
    projection.apply(completed("acct_a", "2026-03-01T23:59:59.999Z", 1), db);
    projection.apply(completed("acct_a", "2026-03-02T00:00:00.000Z", 2), db);
    projection.apply(completed("acct_a", "2026-03-02T08:00:00.000Z", 3), db);
    projection.apply(completed("acct_b", "2026-03-02T08:00:00.000Z", 4), db);
    projection.apply({
      ...completed("acct_a", "2026-03-02T09:00:00.000Z", 5),
      type: "InferenceFailed",
    }, db);
    expect(requestsOn(db, "acct_a", "2026-03-01")).toBe(1);
    expect(requestsOn(db, "acct_a", "2026-03-02")).toBe(2);
    expect(requestsOn(db, "acct_b", "2026-03-02")).toBe(1);
    expect(requestsOn(db, "acct_c", "2026-03-02")).toBe(0);
    projection.reset(db);
    expect(requestsOn(db, "acct_a", "2026-03-02")).toBe(0);
  });
});
