import type { Route } from "./model-router.ts";
import type { Body } from "../common/body-fields.ts";

/**
 * The upstream request (openai-compat.md 4, gateway rules 4-5), as a shallow copy of the client
 * body so unknown fields (top_k, min_p, repetition_penalty…) pass through unchanged:
 * - `model` becomes what the upstream serves;
 * - streams always ask for usage (metering); `stream_options` is dropped when not streaming;
 * - `tools: []` is dropped (vLLM refuses it), with a `tool_choice` that would then dangle;
 * - Ollama has no `max_completion_tokens`: it becomes `max_tokens`;
 * - a flat-price shared endpoint gets its entry's max_tokens when a chat sets no bound (vLLM's
 *   chat default is the rest of the context window; legacy completions default to 16).
 */
export function prepareUpstreamBody(body: Body, route: Route, stream: boolean): Body {
  const upstream: Body = { ...body, model: route.upstreamModel };
  if (stream) {
    const options = typeof body.stream_options === "object" && body.stream_options !== null
      ? body.stream_options as Body
      : {};
    upstream.stream_options = { ...options, include_usage: true };
  } else {
    delete upstream.stream_options;
  }
  if (Array.isArray(body.tools) && body.tools.length === 0) {
    delete upstream.tools;
    if (body.tool_choice === "none" || body.tool_choice === "auto") delete upstream.tool_choice;
  }
  if (
    route.flavour !== "vllm" && body.max_completion_tokens !== undefined &&
    body.max_completion_tokens !== null
  ) {
    upstream.max_tokens ??= body.max_completion_tokens;
    if (route.flavour === "ollama") delete upstream.max_completion_tokens;
  }
  if (
    route.limits && Array.isArray(body.messages) &&
    (upstream.max_tokens === undefined || upstream.max_tokens === null) &&
    (upstream.max_completion_tokens === undefined || upstream.max_completion_tokens === null)
  ) {
    upstream.max_tokens = route.limits.maxTokens;
  }
  return upstream;
}

/** A rough token count of a request's text (about 4 characters per token), for estimates only. */
export function estimateTokens(value: unknown): number {
  let chars = 0;
  const visit = (item: unknown): void => {
    if (typeof item === "string") chars += item.length;
    else if (typeof item === "number") chars += 4;
    else if (Array.isArray(item)) item.forEach(visit);
    else if (item && typeof item === "object") {
      for (const [key, inner] of Object.entries(item)) {
        if (key === "content" || key === "text") visit(inner);
      }
    }
  };
  visit(value);
  return Math.ceil(chars / 4);
}
