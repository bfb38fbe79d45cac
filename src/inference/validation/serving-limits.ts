import type { ServingLimits } from "../../catalogue/catalogue.ts";
import { type Body, clip, invalid } from "../../common/body-fields.ts";

/**
 * What a flat-price request to a shared serverless endpoint may ask for. The price is per
 * request, so the work one request can cause is bounded here, from the catalogue entry: tokens
 * to generate, choices, embedding input, and which parameters beyond OpenAI's own reach the
 * endpoint. Unknown extras are refused with a 400 naming them (not dropped): a client that
 * relies on one learns at once that it had no effect. Pods and account-owned upstreams are not
 * checked here; their owners pay for their own work.
 */
export type UpstreamCall = "chat" | "completions" | "embeddings";

/** The OpenAI parameters of each call (current and legacy); anything else is an extra. */
const OPENAI_PARAMETERS: Record<UpstreamCall, ReadonlySet<string>> = {
  chat: new Set([
    "model",
    "messages",
    "audio",
    "frequency_penalty",
    "function_call",
    "functions",
    "logit_bias",
    "logprobs",
    "max_completion_tokens",
    "max_tokens",
    "metadata",
    "modalities",
    "n",
    "parallel_tool_calls",
    "prediction",
    "presence_penalty",
    "prompt_cache_key",
    "reasoning_effort",
    "response_format",
    "safety_identifier",
    "seed",
    "service_tier",
    "stop",
    "store",
    "stream",
    "stream_options",
    "temperature",
    "tool_choice",
    "tools",
    "top_logprobs",
    "top_p",
    "user",
    "verbosity",
    "web_search_options",
  ]),
  completions: new Set([
    "model",
    "prompt",
    "best_of",
    "echo",
    "frequency_penalty",
    "logit_bias",
    "logprobs",
    "max_tokens",
    "n",
    "presence_penalty",
    "seed",
    "stop",
    "stream",
    "stream_options",
    "suffix",
    "temperature",
    "top_p",
    "user",
  ]),
  embeddings: new Set(["model", "input", "dimensions", "encoding_format", "user"]),
};

/** OpenAI's own bounds on log-probabilities (chat top_logprobs, completions logprobs). */
const MAX_TOP_LOGPROBS = 20;
const MAX_COMPLETION_LOGPROBS = 5;
/** A token id counts as this many characters toward `max_input_chars` (about one token). */
const CHARS_PER_TOKEN = 4;

/**
 * Checks the body about to be sent to a shared endpoint. `fromResponses`: the body was built
 * from a /responses request, whose client-side name for max_tokens is max_output_tokens.
 */
export function checkServingLimits(
  upstream: Body,
  call: UpstreamCall,
  limits: ServingLimits,
  model: string,
  fromResponses = false,
): void {
  const standard = OPENAI_PARAMETERS[call];
  for (const name in upstream) {
    if (standard.has(name) || limits.extraParameters.has(name)) continue;
    const allowed = [...limits.extraParameters];
    throw invalid(
      clip(name),
      `Unsupported parameter: '${clip(name)}' is not sent to the shared endpoint of '${
        clip(model)
      }'. It accepts the OpenAI parameters${
        allowed.length > 0 ? ` and ${allowed.join(", ")}` : ""
      }.`,
      "unsupported_parameter",
    );
  }
  if (call === "embeddings") return checkEmbeddingInput(upstream.input, limits, model);
  atMost(upstream, "n", limits.maxN, "n", model);
  atMost(
    upstream,
    "max_tokens",
    limits.maxTokens,
    fromResponses ? "max_output_tokens" : "max_tokens",
    model,
  );
  atMost(upstream, "max_completion_tokens", limits.maxTokens, "max_completion_tokens", model);
  if (call === "chat") atMost(upstream, "top_logprobs", MAX_TOP_LOGPROBS, "top_logprobs", model);
  else {
    atMost(upstream, "best_of", limits.maxN, "best_of", model);
    atMost(upstream, "logprobs", MAX_COMPLETION_LOGPROBS, "logprobs", model);
  }
}

/** An optional integer field at most `max` (the general validators already checked >= 1). */
function atMost(body: Body, field: string, max: number, param: string, model: string): void {
  const value = body[field];
  if (value === undefined || value === null) return;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0) {
    throw invalid(
      param,
      `Invalid type for '${param}': expected a non-negative integer.`,
      "invalid_type",
    );
  }
  if (value > max) {
    throw invalid(
      param,
      `Invalid '${param}': integer above maximum value. Model '${
        clip(model)
      }' accepts a value <= ${max}, but got ${value} instead.`,
      "integer_above_max_value",
    );
  }
}

function checkEmbeddingInput(input: unknown, limits: ServingLimits, model: string): void {
  // The embeddings validator already checked the shape: a string, strings, tokens or token arrays.
  const items = typeof input === "string" || typeof (input as unknown[])[0] === "number"
    ? [input]
    : input as unknown[];
  if (items.length > limits.maxInputs) {
    throw invalid(
      "input",
      `Invalid 'input': array too long. Model '${
        clip(model)
      }' accepts at most ${limits.maxInputs} inputs, but got ${items.length} instead.`,
      "array_above_max_length",
    );
  }
  let chars = 0;
  for (const item of items) {
    chars += typeof item === "string" ? item.length : (item as unknown[]).length * CHARS_PER_TOKEN;
  }
  if (chars > limits.maxInputChars) {
    throw invalid(
      "input",
      `Invalid 'input': too long. Model '${
        clip(model)
      }' accepts at most ${limits.maxInputChars} characters (a token counts as ${CHARS_PER_TOKEN}) per request, but got ${chars} instead.`,
      "input_above_max_length",
    );
  }
}
