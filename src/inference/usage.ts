import type { InferenceUsage } from "./inference.events.ts";

/**
 * Token counts from the upstream's `usage` when it reports both; otherwise the gateway's own
 * estimate (computed only then), marked `usageEstimated`.
 */
export function usageOf(
  usage: any,
  prompt: () => number,
  completion: () => number,
): InferenceUsage {
  if (usage && Number.isInteger(usage.prompt_tokens) && Number.isInteger(usage.completion_tokens)) {
    return {
      promptTokens: usage.prompt_tokens,
      completionTokens: usage.completion_tokens,
      totalTokens: Number.isInteger(usage.total_tokens)
        ? usage.total_tokens
        : usage.prompt_tokens + usage.completion_tokens,
      usageEstimated: false,
    };
  }
  const promptTokens = prompt();
  const completionTokens = completion();
  return {
    promptTokens,
    completionTokens,
    totalTokens: promptTokens + completionTokens,
    usageEstimated: true,
  };
}

/** The `usage` object of an OpenAI answer, for an upstream that sent none. */
export function openAiUsage(usage: InferenceUsage) {
  return {
    prompt_tokens: usage.promptTokens,
    completion_tokens: usage.completionTokens,
    total_tokens: usage.totalTokens,
  };
}

/** Milliseconds as the inference events record them: two decimals. */
export function roundMs(ms: number): number {
  return Math.round(ms * 100) / 100;
}
