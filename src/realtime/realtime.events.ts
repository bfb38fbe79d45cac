import type { RealtimePricing } from "../catalogue/catalogue.ts";

/**
 * Every fact about one realtime session, on the stream `realtime-<sessionId>`. Only the
 * instance holding the session's sockets writes it (the crash sweep writes a stream whose
 * owner is gone), still with expected revisions.
 */
export type RealtimeRouteKind = "pod" | "external" | "serverless";

export type RealtimeEndReason =
  | "client_closed"
  | "upstream_closed"
  | "upstream_failed"
  | "idle_timeout"
  | "max_duration"
  | "message_too_large"
  | "insufficient_credits"
  | "shutdown"
  | "reconciled";

export interface RealtimeSessionStarted {
  sessionId: string;
  accountId: string;
  keyId: string | null;
  requestId: string;
  /** The instance holding the sockets: its restart reconciles the session at once. */
  instanceId: string;
  /** As the client asked for it, and as sent upstream. */
  model: string;
  upstreamModel: string;
  routeKind: RealtimeRouteKind;
  deploymentId: string;
  /** Catalogue models only; null: usage is recorded, nothing is charged per token. */
  pricing: RealtimePricing | null;
  /** The first ledger hold (`realtime:<sessionId>:hold:0`), null when nothing is held. */
  holdId: string | null;
  holdMicros: number;
  startedAt: string;
}

export interface RealtimeResponseCompleted {
  sessionId: string;
  accountId: string;
  /** The upstream's `response.id` (at most 128 characters; longer ones are hashed). */
  responseId: string;
  status: string | null;
  /** `response.usage` as the upstream reported it (bounded in size; see realtime-usage.ts). */
  usage: Record<string, unknown> | null;
  /** Input transcription usage reported since the previous response, as reported. */
  transcriptionUsage?: Record<string, unknown>[];
  /** What this response costs (micro-dollars); the ledger key is `realtime:<sessionId>:response:<responseId>`. */
  chargeMicros: number;
  /** Position of this response in the session (0-based); names the next hold. */
  index: number;
  completedAt: string;
}

export interface RealtimeTotals {
  inputTokens: number;
  outputTokens: number;
  textInputTokens: number;
  audioInputTokens: number;
  cachedInputTokens: number;
  textOutputTokens: number;
  audioOutputTokens: number;
}

export interface RealtimeSessionEnded {
  sessionId: string;
  accountId: string;
  reason: RealtimeEndReason;
  endedAt: string;
  durationMs: number;
  clientCloseCode: number | null;
  upstreamCloseCode: number | null;
  responses: number;
  totals: RealtimeTotals;
  /** Sum of the responses' charges (what was due; the ledger shows what was collected). */
  chargedMicros: number;
  framesFromClient: number;
  framesFromUpstream: number;
  bytesFromClient: number;
  bytesFromUpstream: number;
}

export interface RealtimeEventMap {
  RealtimeSessionStarted: RealtimeSessionStarted;
  RealtimeResponseCompleted: RealtimeResponseCompleted;
  RealtimeSessionEnded: RealtimeSessionEnded;
}

export type RealtimeEventType = keyof RealtimeEventMap;

export const REALTIME_EVENT_TYPES = [
  "RealtimeSessionStarted",
  "RealtimeResponseCompleted",
  "RealtimeSessionEnded",
] as const satisfies readonly RealtimeEventType[];

export type RealtimeEvent = {
  [Type in RealtimeEventType]: { type: Type; data: RealtimeEventMap[Type] };
}[RealtimeEventType];

export const realtimeStream = (sessionId: string) => `realtime-${sessionId}`;

/** The ledger keys of a session: one per response, and one hold per response boundary. */
export const realtimeChargeId = (sessionId: string, responseId: string) =>
  `realtime:${sessionId}:response:${responseId}`;
export const realtimeHoldId = (sessionId: string, index: number) =>
  `realtime:${sessionId}:hold:${index}`;
