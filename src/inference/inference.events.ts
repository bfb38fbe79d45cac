/**
 * One event per OpenAI-compatible request, on the stream `inference-<inferenceId>`:
 * InferenceCompleted when the upstream answered, InferenceFailed otherwise. Token counts come
 * from the upstream's `usage`; `usageEstimated` marks the rare case the gateway had to count.
 */
export type InferenceEndpoint = "chat.completions" | "completions" | "embeddings" | "responses";
export type RouteKind = "pod" | "external" | "serverless";

export interface InferenceUsage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  /** True when the upstream reported no usage and these are the gateway's estimate. */
  usageEstimated: boolean;
}

interface InferenceFacts extends InferenceUsage {
  inferenceId: string;
  /** The x-request-id the client saw. */
  requestId: string;
  accountId: string;
  keyId: string | null;
  endpoint: InferenceEndpoint;
  /** The model the client asked for. */
  model: string;
  /** What the upstream serves (e.g. `mistral:7b`, `Qwen/Qwen3-8B`). */
  upstreamModel: string;
  routeKind: RouteKind;
  deploymentId: string;
  stream: boolean;
  latencyMs: number;
  /** Time to the first streamed token (streams) or to the response (non-stream); null if none came. */
  timeToFirstTokenMs: number | null;
  /** Per-request price charged through the ledger (serverless catalogue models); 0 otherwise. */
  chargedMicros: number;
  startedAt: string;
  finishedAt: string;
  /** `model` named a model group: which one (absent otherwise, and on older events). */
  groupId?: string;
  groupName?: string;
  /** The group member that served (or last failed): its deployment or serverless endpoint id. */
  memberDeploymentId?: string;
  /** Group members tried first that failed before any byte reached the client (429, 5xx, refused). */
  failedOverFrom?: string[];
  /**
   * The request waited this long for a sleeping pod to wake (its warm-up answered). The time to
   * first token, counted from the request's start, includes this wait.
   */
  wokeAfterMs?: number;
}

export interface InferenceCompleted extends InferenceFacts {
  /**
   * The ledger key the per-request charge settles (its hold's reservation id) when
   * `chargedMicros` > 0. Absent on events written before it existed: the key was `inferenceId`.
   */
  reservationId?: string;
  finishReason: string | null;
  /** The client went away before the end; usage is what was seen until then. */
  clientAborted: boolean;
  /**
   * The client stopped reading for STREAM_STALL_TIMEOUT_MS and the gateway ended the stream
   * (clientAborted is true too). Absent on events written before it existed, and when false.
   */
  clientStalled?: boolean;
}

export interface InferenceFailed extends InferenceFacts {
  status: number;
  errorCode: string | null;
  errorMessage: string;
  /** The failure happened after the stream had started (error frame sent). */
  midStream: boolean;
}

export interface InferenceEventMap {
  InferenceCompleted: InferenceCompleted;
  InferenceFailed: InferenceFailed;
}

export const inferenceStream = (inferenceId: string) => `inference-${inferenceId}`;
