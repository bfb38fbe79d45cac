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

export const DEFAULT_RUNPOD_CONFIG: RunpodConfig = {
  restUrl: "https://api.runpod.io/v2",
  apiUrl: "https://api.runpod.ai/v2",
  podProxyTemplate: "https://{podId}-{port}.proxy.runpod.net",
  requestTimeoutMs: 30_000,
  maxRetries: 3,
};

/** Reads RUNPOD_* variables; throws one error naming every bad variable. */
export function runpodConfigFromEnv(env: Record<string, string | undefined>): RunpodConfig {
  const problems: string[] = [];
  const url = (name: string, fallback: string): string => {
    const raw = env[name]?.trim();
    if (!raw) return fallback;
    try {
      const parsed = new URL(raw.replace("{podId}", "pod").replace("{port}", "1"));
      if (parsed.protocol !== "http:" && parsed.protocol !== "https:") throw new Error();
    } catch {
      problems.push(`${name} must be an http(s) URL, got ${JSON.stringify(raw)}`);
      return fallback;
    }
    return raw.replace(/\/+$/, "");
  };
  const integer = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name]?.trim();
    if (!raw) return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      problems.push(
        `${name} must be an integer between ${min} and ${max}, got ${JSON.stringify(raw)}`,
      );
      return fallback;
    }
    return value;
  };
  const restUrl = url("RUNPOD_REST_URL", DEFAULT_RUNPOD_CONFIG.restUrl);
  const apiUrl = url("RUNPOD_API_URL", DEFAULT_RUNPOD_CONFIG.apiUrl);
  const podProxyTemplate = url("RUNPOD_POD_PROXY_URL", DEFAULT_RUNPOD_CONFIG.podProxyTemplate);
  if (!podProxyTemplate.includes("{podId}") || !podProxyTemplate.includes("{port}")) {
    problems.push("RUNPOD_POD_PROXY_URL must contain {podId} and {port}");
  }
  const config: RunpodConfig = {
    restUrl,
    apiUrl,
    podProxyTemplate,
    apiKey: env.RUNPOD_API_KEY?.trim() || undefined,
    requestTimeoutMs: integer(
      "RUNPOD_TIMEOUT_MS",
      DEFAULT_RUNPOD_CONFIG.requestTimeoutMs,
      100,
      600_000,
    ),
    maxRetries: integer("RUNPOD_MAX_RETRIES", DEFAULT_RUNPOD_CONFIG.maxRetries, 0, 10),
  };
  if (problems.length) throw new Error(`Invalid RunPod configuration: ${problems.join("; ")}`);
  return config;
}
