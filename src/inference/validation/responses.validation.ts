import {
  type Body,
  integerAtLeast,
  invalid,
  MAX_USER_LENGTH,
  numberInRange,
  optionalBoolean,
  optionalString,
  requireField,
  requireModel,
  requireObject,
  validateToolNames,
} from "../../common/body-fields.ts";

export interface ResponsesRequest {
  body: Body;
  model: string;
  stream: boolean;
}

/**
 * `/responses`. The gateway is stateless, so `previous_response_id`, `conversation` and
 * `background` are refused with a 400 rather than silently ignored.
 */
export function validateResponsesRequest(raw: unknown): ResponsesRequest {
  const body = requireObject(raw);
  const model = requireModel(body);
  for (const field of ["previous_response_id", "conversation"] as const) {
    if (body[field] !== undefined && body[field] !== null) {
      throw invalid(
        field,
        `'${field}' is not supported: this gateway does not store responses. Send the whole conversation in 'input'.`,
        "unsupported_parameter",
      );
    }
  }
  if (body.background === true) {
    throw invalid(
      "background",
      "'background' responses are not supported by this gateway.",
      "unsupported_parameter",
    );
  }
  const input = requireField(body, "input");
  if (typeof input !== "string" && !Array.isArray(input)) {
    throw invalid(
      "input",
      "Invalid type for 'input': expected a string or an array of input items.",
      "invalid_type",
    );
  }
  if (Array.isArray(input) && input.length === 0) {
    throw invalid("input", "Invalid 'input': empty array.", "empty_array");
  }
  if (
    body.instructions !== undefined && body.instructions !== null &&
    typeof body.instructions !== "string"
  ) {
    throw invalid(
      "instructions",
      "Invalid type for 'instructions': expected a string.",
      "invalid_type",
    );
  }
  numberInRange(body, "temperature", 0, 2);
  numberInRange(body, "top_p", 0, 1);
  integerAtLeast(body, "max_output_tokens", 1);
  optionalString(body, "user", MAX_USER_LENGTH);
  validateToolNames(body.tools, "name");
  const stream = optionalBoolean(body, "stream") ?? false;
  return { body, model, stream };
}
