import {
  type Body,
  integerAtLeast,
  invalid,
  MAX_USER_LENGTH,
  optionalString,
  requireModel,
  requireObject,
} from "../../common/body-fields.ts";

export interface EmbeddingRequest {
  body: Body;
  model: string;
  encoding: "float" | "base64";
}

/** `input` a string, strings, tokens or token arrays; `encoding_format` float|base64. */
export function validateEmbeddingRequest(raw: unknown): EmbeddingRequest {
  const body = requireObject(raw);
  const model = requireModel(body);
  const input = body.input;
  if (input === undefined || input === null) {
    throw invalid("input", "Missing required parameter: 'input'.", "missing_required_parameter");
  }
  const ok = (typeof input === "string") ||
    (Array.isArray(input) && input.length > 0 && (
      input.every((item) => typeof item === "string") ||
      input.every((item) => Number.isInteger(item)) ||
      input.every((item) =>
        Array.isArray(item) && item.length > 0 && item.every((token) => Number.isInteger(token))
      )
    ));
  if (!ok) {
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
