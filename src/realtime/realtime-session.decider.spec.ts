import { deciderSpec } from "../../test/support/decider-spec.ts";
import type { RealtimeEvent, RealtimeSessionStarted } from "./realtime.events.ts";
import { type RealtimeSessionCommand, realtimeSessionDecider } from "./realtime-session.decider.ts";
import { responseCostMicros } from "./realtime-usage.ts";

const T0 = "2026-01-01T00:00:00.000Z";
const T1 = "2026-01-01T00:00:30.000Z";
const spec = deciderSpec(realtimeSessionDecider);
const session: RealtimeSessionStarted = {
  sessionId: "rts_1",
  accountId: "acct_1",
  keyId: null,
  requestId: "req_1",
  instanceId: "main",
  model: "s2s-realtime",
  upstreamModel: "speech-to-speech",
  routeKind: "serverless",
  deploymentId: "s2s-realtime",
  pricing: null,
  holdId: null,
  holdMicros: 0,
  startedAt: T0,
};
const started: RealtimeEvent = { type: "RealtimeSessionStarted", data: session };
const usage = {
  input_tokens: 10,
  output_tokens: 4,
  input_token_details: { text_tokens: 6, audio_tokens: 4, cached_tokens: 2 },
  output_token_details: { text_tokens: 1, audio_tokens: 3 },
};
const complete = (responseId: string): RealtimeSessionCommand => ({
  type: "CompleteResponse",
  responseId,
  status: "completed",
  usage,
  chargeMicros: 7,
  at: T1,
});
const completed = (responseId: string, index: number): RealtimeEvent => ({
  type: "RealtimeResponseCompleted",
  data: {
    sessionId: "rts_1",
    accountId: "acct_1",
    responseId,
    status: "completed",
    usage,
    chargeMicros: 7,
    index,
    completedAt: T1,
  },
});
const end: RealtimeSessionCommand = {
  type: "EndSession",
  reason: "client_closed",
  clientCloseCode: 1000,
  upstreamCloseCode: 1000,
  framesFromClient: 3,
  framesFromUpstream: 9,
  bytesFromClient: 300,
  bytesFromUpstream: 900,
  at: T1,
};

describe("realtime session decider", () => {
  it("records one response per upstream response id", () => {
    spec.given([started]).when(complete("resp_1")).then([completed("resp_1", 0)]);
    spec.given([started, completed("resp_1", 0)]).when(complete("resp_1")).then([]);
    spec.given([started, completed("resp_1", 0)]).when(complete("resp_2")).then([
      completed("resp_2", 1),
    ]);
  });

  it("ends once, with totals folded from the recorded responses", () => {
    const [ended] = spec.given([started, completed("a", 0), completed("b", 1)]).when(end).then();
    expect(ended.data).toMatchObject({
      reason: "client_closed",
      durationMs: 30_000,
      responses: 2,
      chargedMicros: 14,
      totals: {
        inputTokens: 20,
        outputTokens: 8,
        textInputTokens: 12,
        audioInputTokens: 8,
        cachedInputTokens: 4,
        textOutputTokens: 2,
        audioOutputTokens: 6,
      },
    });
    spec.given([started, ended]).when(end).then([]);
    spec.given([started, ended]).when(complete("late")).then([]);
  });

  it("refuses responses and ends of a session that never started", () => {
    spec.given([]).when(complete("resp_1")).thenRejects("realtime_session_unknown");
    spec.given([]).when(end).thenRejects("realtime_session_unknown");
  });
});

describe("realtime response cost", () => {
  const pricing = {
    kind: "tokens" as const,
    textInputPerMillionMicros: 4_000_000,
    textOutputPerMillionMicros: 16_000_000,
    audioInputPerMillionMicros: 32_000_000,
    audioOutputPerMillionMicros: 64_000_000,
    cachedInputPerMillionMicros: 400_000,
  };

  it("prices each kind of token, cached input at the cached price, rounded up once", () => {
    // text in 6 (2 cached) + audio in 4 + text out 1 + audio out 3, per million micro-dollars:
    const perMillion = 4 * 4e6 + 2 * 4e5 + 4 * 32e6 + 1 * 16e6 + 3 * 64e6;
    expect(responseCostMicros(pricing, usage)).toBe(Math.ceil(perMillion / 1e6));
  });

  it("charges nothing without per-token prices, and bounds a hostile usage", () => {
    expect(responseCostMicros(null, usage)).toBe(0);
    const huge = { input_tokens: 1e300, output_tokens: -5, input_token_details: "x" };
    expect(Number.isSafeInteger(responseCostMicros(pricing, huge))).toBe(true);
  });

  it("prices transcription usage in tokens as audio in and text out", () => {
    const transcription = [{ type: "tokens", input_tokens: 100, output_tokens: 10 }];
    expect(responseCostMicros(pricing, null, transcription)).toBe(
      Math.ceil((100 * 32e6 + 10 * 16e6) / 1e6),
    );
  });
});
