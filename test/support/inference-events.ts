/**
 * The data of `InferenceCompleted` / `InferenceFailed` (src/inference/inference.events.ts) for
 * stores written directly: the audit bench's generated history and the corrupted fixtures.
 */
export interface InferenceFactsOptions {
  accountId: string;
  startedAt: string;
  finishedAt?: string;
  chargedMicros: number;
  promptTokens?: number;
  completionTokens?: number;
}

function inferenceFacts(inferenceId: string, options: InferenceFactsOptions) {
  const promptTokens = options.promptTokens ?? 5;
  const completionTokens = options.completionTokens ?? 7;
  return {
    inferenceId,
    requestId: `req_${inferenceId}`,
    accountId: options.accountId,
    keyId: null,
    endpoint: "chat.completions",
    model: "qwen3-8b",
    upstreamModel: "Qwen/Qwen3-8B",
    routeKind: "serverless",
    deploymentId: "qwen3-8b",
    stream: false,
    latencyMs: 10,
    timeToFirstTokenMs: 10,
    promptTokens,
    completionTokens,
    totalTokens: promptTokens + completionTokens,
    usageEstimated: false,
    chargedMicros: options.chargedMicros,
    startedAt: options.startedAt,
    finishedAt: options.finishedAt ?? options.startedAt,
  };
}

/** A completed chat completion, settled on the hold of the same id. */
export function inferenceCompletedData(inferenceId: string, options: InferenceFactsOptions) {
  return {
    ...inferenceFacts(inferenceId, options),
    reservationId: inferenceId,
    finishReason: "stop",
    clientAborted: false,
  };
}

/** A chat completion the upstream failed before its end: nothing charged. */
export function inferenceFailedData(
  inferenceId: string,
  options: Omit<InferenceFactsOptions, "chargedMicros">,
) {
  return {
    ...inferenceFacts(inferenceId, { ...options, chargedMicros: 0 }),
    status: 502,
    errorCode: "upstream_error",
    errorMessage: "bench",
    midStream: false,
  };
}
