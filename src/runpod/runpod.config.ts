/** Where and how ModelPilot talks to RunPod. */
export interface RunpodConfig {
  /** REST v2 (Pods): `https://api.runpod.io/v2`. */
  restUrl: string;
  /** Serverless queue API: `https://api.runpod.ai/v2` (endpoint id is appended). */
  apiUrl: string;
  /** Pod HTTP proxy URL with `{podId}` and `{port}` placeholders. */
  podProxyTemplate: string;
  /** Sent as `Authorization: Bearer …`; never logged, never put in an error message. */
  apiKey?: string;
  /** Per-attempt timeout. */
  requestTimeoutMs: number;
  /** Retries after the first attempt, for requests that may be retried. */
  maxRetries: number;
}

export const RUNPOD_CONFIG = Symbol("RUNPOD_CONFIG");
