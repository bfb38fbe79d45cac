import { DatabaseSync } from "node:sqlite";
import type { RecordedEvent } from "../event-store/event-store.port.ts";
import {
  dueCharges,
  InferenceChargesProjection,
  isChargeDue,
} from "./inference-charges.projection.ts";

const ACCOUNT = "acct_1";
let position = 0n;

function recorded(type: string, data: Record<string, unknown>): RecordedEvent {
  position++;
  return {
    id: `event-${position}`,
    type,
    data,
    metadata: {},
    stream: type === "InferenceCompleted" ? `inference-${data.inferenceId}` : `ledger-${ACCOUNT}`,
    revision: 0n,
    position,
    createdAt: new Date(0),
  };
}

/** InferenceCompleted as the usage recorder writes it; `reservationId` only on newer events. */
function completed(inferenceId: string, chargedMicros: number, reservationId?: string) {
  return recorded("InferenceCompleted", {
    inferenceId,
    requestId: `req-${inferenceId}`,
    accountId: ACCOUNT,
    keyId: null,
    endpoint: "chat.completions",
    model: "qwen3-8b",
    upstreamModel: "Qwen/Qwen3-8B",
    routeKind: "serverless",
    deploymentId: "serverless",
    stream: false,
    latencyMs: 10,
    timeToFirstTokenMs: 10,
    chargedMicros,
    startedAt: "2026-01-01T00:00:00.000Z",
    finishedAt: "2026-01-01T00:00:01.000Z",
    promptTokens: 1,
    completionTokens: 1,
    totalTokens: 2,
    usageEstimated: false,
    finishReason: "stop",
    clientAborted: false,
    ...(reservationId ? { reservationId } : {}),
  });
}

function charged(chargeId: string, kind = "inference") {
  return recorded("CreditsCharged", {
    accountId: ACCOUNT,
    chargeId,
    amountMicros: 10_000,
    reference: `inference:${chargeId}`,
    kind,
    reservationId: chargeId,
    at: "2026-01-01T00:00:01.000Z",
  });
}

function writtenOff(chargeId: string) {
  return recorded("ChargeWrittenOff", {
    accountId: ACCOUNT,
    chargeId,
    amountMicros: 10_000,
    reason: "insufficient_credits",
    reference: `inference:${chargeId}`,
    at: "2026-01-01T00:00:02.000Z",
  });
}

describe("inference charges due (projection)", () => {
  let db: DatabaseSync;
  const projection = new InferenceChargesProjection();
  const apply = (...events: RecordedEvent[]) =>
    events.forEach((event) => projection.apply(event, db));
  const due = () => dueCharges(db, "2100-01-01T00:00:00.000Z", 100).map((row) => row.chargeId);

  beforeEach(() => {
    db = new DatabaseSync(":memory:");
    projection.setup(db);
  });

  afterEach(() => db.close());

  it("keeps a priced completed request due until its charge arrives", () => {
    apply(completed("inf_1", 10_000));
    expect(due()).toEqual(["inf_1"]);
    expect(isChargeDue(db, ACCOUNT, "inf_1")).toMatchObject({
      amountMicros: 10_000,
      model: "qwen3-8b",
      requestId: "req-inf_1",
    });
    apply(charged("inf_1"));
    expect(due()).toEqual([]);
  });

  it("is not due when the charge was projected before the completion (the usual order)", () => {
    apply(charged("inf_1"), completed("inf_1", 10_000));
    expect(due()).toEqual([]);
    expect(db.prepare("SELECT count(*) AS n FROM billing_inference_charges").get()).toEqual({
      n: 0,
    });
  });

  it("is closed by a write-off too, in either order", () => {
    apply(
      completed("inf_1", 10_000),
      writtenOff("inf_1"),
      writtenOff("inf_2"),
      completed("inf_2", 10_000),
    );
    expect(due()).toEqual([]);
  });

  it("ignores unpriced requests and charges that are not per-request inference", () => {
    apply(completed("inf_free", 0), charged("job_1", "image"), completed("inf_1", 10_000));
    expect(due()).toEqual(["inf_1"]);
  });

  it("uses the event's reservationId as the key when it names one", () => {
    apply(completed("inf_1", 10_000, "hold_1"), charged("inf_1"));
    expect(due()).toEqual(["hold_1"]);
  });

  it("pages due rows oldest first without repeating one", () => {
    apply(completed("inf_a", 1), completed("inf_b", 1), completed("inf_c", 1));
    const first = dueCharges(db, "2100-01-01T00:00:00.000Z", 2);
    const second = dueCharges(db, "2100-01-01T00:00:00.000Z", 2, first.at(-1));
    expect([...first, ...second].map((row) => row.chargeId)).toEqual(["inf_a", "inf_b", "inf_c"]);
    expect(dueCharges(db, "2025-01-01T00:00:00.000Z", 10)).toEqual([]);
  });

  it("applies a batch exactly as event by event: repeats, either order, write-offs", () => {
    // Few keys, so completions and charges of one key repeat and come in every order.
    let seed = 7;
    const next = (below: number) => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) % below;
    const events = Array.from({ length: 3_000 }, () => {
      const key = `inf_${next(40)}`;
      const choice = next(5);
      return choice <= 1
        ? completed(key, next(3) * 5_000, next(2) ? key : undefined)
        : choice <= 3
        ? charged(key, next(4) ? "inference" : "image")
        : writtenOff(key);
    });
    const rows = (database: DatabaseSync) =>
      database.prepare("SELECT * FROM billing_inference_charges ORDER BY charge_id").all();
    for (const event of events) projection.apply(event, db);
    const batched = new DatabaseSync(":memory:");
    projection.setup(batched);
    for (let start = 0; start < events.length;) {
      const end = start + 1 + next(400);
      projection.applyBatch(events.slice(start, end), batched);
      start = end;
    }
    expect(rows(batched)).toEqual(rows(db));
    expect(rows(db).length).toBeGreaterThan(0);
    batched.close();
  });
});
