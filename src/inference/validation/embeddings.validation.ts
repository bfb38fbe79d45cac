import {
  type Body,
  integerAtLeast,
  invalid,
  MAX_USER_LENGTH,
  optionalString,
  requireField,
  requireModel,
  requireObject,
} from "../../common/body-fields.ts";
import { isTextOrTokens } from "./text-or-tokens.ts";

export interface EmbeddingRequest {
  body: Body;
  model: string;
  encoding: "float" | "base64";
}

/** `input` a string, strings, tokens or token arrays; `encoding_format` float|base64. */
export function validateEmbeddingRequest(raw: unknown): EmbeddingRequest {
  const body = requireObject(raw);
  const model = requireModel(body);
  const input = requireField(body, "input");
  if (!isTextOrTokens(input, false)) {
    throw invalid(
      "input",
      "Invalid 'input': expected a string, an array of strings, an array of tokens or an array of token arrays.",
      "invalid_type",
    );
  }
  const encoding = body.encoding_format ?? "float";
  if (encoding !== "float" && encoding !== "base64") {
    throw invalid(
      "encoding_format",
      "Invalid value for 'encoding_format': expected 'float' or 'base64'.",
    );
  }
  integerAtLeast(body, "dimensions", 1);
  optionalString(body, "user", MAX_USER_LENGTH);
  return { body, model, encoding };
}
