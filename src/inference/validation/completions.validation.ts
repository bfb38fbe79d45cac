import {
  type Body,
  invalid,
  requireField,
  requireModel,
  requireObject,
  validateSampling,
  validateStreaming,
} from "../../common/body-fields.ts";
import { isTextOrTokens } from "./text-or-tokens.ts";

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
  const prompt = requireField(body, "prompt");
  if (!isTextOrTokens(prompt, true)) {
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
