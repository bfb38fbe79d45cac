/** Every behaviour of the simulator a test can turn. All durations are milliseconds. */

export type WorkerKind =
  | "vllm"
  | "comfyui-image"
  | "sdxl"
  | "flux-public"
  | "kokoro"
  | "wan-t2v"
  /** worker-infinity-embedding: `/openai/v1/embeddings` and queue jobs (embeddings.ts). */
  | "infinity-embedding"
  /** A load-balancing endpoint serving the Realtime API over WebSocket (realtime.ts). */
  | "realtime";

export interface EndpointConfig {
  id: string;
  worker: WorkerKind;
  /**
   * vllm, infinity-embedding and realtime: the `model` the OpenAI route accepts (vLLM
   * `--served-model-name`).
   */
  servedModelName?: string;
  /** Overrides `knobs.executionMs` for this endpoint. */
  executionMs?: number;
  /** Overrides `knobs.coldStartMs` for this endpoint. */
  coldStartMs?: number;
  /** Endpoint-level execution timeout (RunPod default 600 s); `policy.executionTimeout` wins. */
  executionTimeoutMs?: number;
}

export interface SimulatorKnobs {
  // ---- Pods (REST v2) ----
  /** PROVISIONING -> STARTING. */
  provisionMs: number;
  /** STARTING -> RUNNING. */
  startMs: number;
  /** New pods never leave PROVISIONING. */
  stuckProvisioning: boolean;
  /** GPU type ids with no stock: creating a pod on them fails with 500. */
  unavailableGpus: string[];
  /**
   * GPUs free per type (absent: unlimited). A create beyond them fails with 500 "not enough free
   * GPUs"; the catalogue's `availability` follows the count.
   */
  gpuStock: Record<string, number>;
  /** USD/h per GPU type for pods and `GET /catalog/gpus` (merged over the built-in prices). */
  gpuPrices: Record<string, number>;
  /** `GET /catalog/gpus[/{id}]` answers; false: 503, as when RunPod's catalogue is down. */
  gpuCatalogAvailable: boolean;
  /**
   * What a pod reports as `cost`: `"price"` (the GPU's price × count, 0 when EXITED/TERMINATED),
   * `"missing"` (no `cost` field at all) or a fixed number (e.g. 0).
   */
  podCost: "price" | "missing" | number;
  /** How long a terminated pod stays visible (status TERMINATED) before GET answers 404. */
  terminatedVisibleMs: number;
  /** REST requests allowed per minute before 429 (RateLimit headers report it). */
  restRateLimitPerMinute: number;

  /**
   * The next N starts of a stopped pod come back RUNNING on a machine that gave its GPU away:
   * `gpu.count` 0, no runtime GPUs, and the proxy answers 502 (runpod-api.md: "502 … the pod
   * has no GPU").
   */
  gpuLostOnRestart: number;
  /** The next N starts of a stopped pod fail with 500 "There are not enough free GPUs…". */
  noFreeGpusOnStart: number;
  /**
   * Idle behaviour of scripts people run on pods (`sleep 2h; runpodctl stop pod`): a RUNNING pod
   * whose proxy saw no request for this long is EXITED by the simulator. null: never.
   */
  podIdleStopMs: number | null;

  // ---- Ollama behind the pod proxy ----
  /** RUNNING -> Ollama answers through the proxy (502 before). */
  ollamaReadyMs: number;
  /**
   * Warm-up, separate from boot: after each (re)start, inference requests wait until
   * RUNNING + ollamaReadyMs + warmUpMs (the model loading into GPU memory), as Ollama's first
   * request does. `/api/tags` and `/api/version` answer at once.
   */
  warmUpMs: number;
  /** Duration of a streamed `/api/pull`. */
  pullMs: number;
  /** Models already present on a new pod (e.g. baked into the image). */
  podModels: string[];
  /** Pulling these fails with a final `{"error":…}` NDJSON line. */
  unknownModels: string[];
  ollamaVersion: string;
  /** Generation speed for Ollama and vLLM text (delay between tokens = 1000 / tokensPerSecond). */
  tokensPerSecond: number;
  /** Ollama dies after this many streamed tokens: one empty chunk, then EOF (no finish, no [DONE]). */
  ollamaDieAfterTokens: number | null;
  /** Dimensions of the deterministic embeddings. */
  embeddingDimensions: number;

  // ---- Serverless ----
  /** Extra IN_QUEUE time when the endpoint has no warm worker. */
  coldStartMs: number;
  /** A worker stays warm this long after its last job (RunPod default 5 s). */
  idleTimeoutMs: number;
  /** Default job execution time. */
  executionMs: number;
  /** Probability a job FAILS (seeded, deterministic). */
  failureRate: number;
  /** The next N jobs FAIL. */
  failNextJobs: number;
  /** Default endpoint execution timeout (RunPod default 600 s). */
  executionTimeoutMs: number;
  /** Results of `/run` jobs are kept this long after they finish (RunPod: 30 min). */
  runRetentionMs: number;
  /** Results of `/runsync` jobs are kept this long after they finish (RunPod: 1 min). */
  runsyncRetentionMs: number;
  runPayloadLimitBytes: number;
  runsyncPayloadLimitBytes: number;
  /** Seed for failureRate draws and generated media. */
  seed: number;

  // ---- Realtime (load-balancing endpoints, `/lb/{endpointId}/v1/realtime`) ----
  /** Delay between `response.create` and `response.created`; deltas follow at tokensPerSecond. */
  realtimeLatencyMs: number;
  /** A session's socket is destroyed, without a close frame, after this many deltas of a response. */
  realtimeDropAfterDeltas: number | null;
  /** Every `response.done` is sent twice (an upstream replaying its last event). */
  realtimeDuplicateDone: boolean;
}

export const DEFAULT_KNOBS: SimulatorKnobs = {
  provisionMs: 50,
  startMs: 50,
  stuckProvisioning: false,
  unavailableGpus: [],
  gpuStock: {},
  gpuPrices: {},
  gpuCatalogAvailable: true,
  podCost: "price",
  terminatedVisibleMs: 0,
  restRateLimitPerMinute: 6000,
  gpuLostOnRestart: 0,
  noFreeGpusOnStart: 0,
  podIdleStopMs: null,
  ollamaReadyMs: 50,
  warmUpMs: 0,
  pullMs: 100,
  podModels: [],
  unknownModels: [],
  ollamaVersion: "0.12.6",
  tokensPerSecond: 1000,
  ollamaDieAfterTokens: null,
  embeddingDimensions: 16,
  coldStartMs: 150,
  idleTimeoutMs: 5000,
  executionMs: 50,
  failureRate: 0,
  failNextJobs: 0,
  executionTimeoutMs: 600_000,
  runRetentionMs: 30 * 60_000,
  runsyncRetentionMs: 60_000,
  runPayloadLimitBytes: 10 * 1024 * 1024,
  runsyncPayloadLimitBytes: 20 * 1024 * 1024,
  seed: 42,
  realtimeLatencyMs: 0,
  realtimeDropAfterDeltas: null,
  realtimeDuplicateDone: false,
};

export const DEFAULT_ENDPOINTS: EndpointConfig[] = [
  { id: "qwen3-8b", worker: "vllm", servedModelName: "Qwen/Qwen3-8B" },
  { id: "flux-schnell", worker: "flux-public" },
  { id: "flux-dev", worker: "comfyui-image" },
  { id: "sdxl", worker: "sdxl" },
  { id: "zimage", worker: "comfyui-image" },
  { id: "kokoro", worker: "kokoro" },
  { id: "chatterbox", worker: "kokoro" },
  { id: "wan-t2v", worker: "wan-t2v" },
  {
    id: "bge-small-en-v1.5",
    worker: "infinity-embedding",
    servedModelName: "BAAI/bge-small-en-v1.5",
  },
  { id: "s2s-realtime", worker: "realtime", servedModelName: "speech-to-speech" },
];
