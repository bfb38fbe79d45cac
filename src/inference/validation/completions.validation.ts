import {
  type Body,
  invalid,
  requireModel,
  requireObject,
  validateSampling,
  validateStreaming,
} from "../../common/body-fields.ts";

export interface CompletionRequest {
  body: Body;
  model: string;
  stream: boolean;
  includeUsage: boolean;
}

/** Legacy `/completions`: `prompt` is a string, strings, tokens or token arrays. */
export function validateCompletionRequest(raw: unknown): CompletionRequest {
  const body = requireObject(raw);
  const model = requireModel(body);
  const prompt = body.prompt;
  if (prompt === undefined || prompt === null) {
    throw invalid("prompt", "Missing required parameter: 'prompt'.", "missing_required_parameter");
  }
  const ok = typeof prompt === "string" ||
    (Array.isArray(prompt) && prompt.length > 0 && (
      prompt.every((item) => typeof item === "string") ||
      prompt.every((item) => Number.isInteger(item)) ||
      prompt.every((item) => Array.isArray(item) && item.every((token) => Number.isInteger(token)))
    ));
  if (!ok) {
    throw invalid(
      "prompt",
      "Invalid 'prompt': expected a string, an array of strings, an array of tokens or an array of token arrays.",
      "invalid_type",
    );
  }
  validateSampling(body);
  const { stream, includeUsage } = validateStreaming(body);
  return { body, model, stream, includeUsage };
}
