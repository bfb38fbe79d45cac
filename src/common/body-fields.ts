import { ApiError } from "./api-error.ts";

/**
 * Pure request checks for the OpenAI routes (they bypass the global whitelist pipe so unknown
 * fields pass through to the upstream). Each failure is a 400 envelope naming `param`.
 */
export type Body = Record<string, unknown>;

/**
 * Longest `model` a client may send: longer than any deployment name, model identifier or
 * catalogue id, and short enough that echoing it or keying a cache by it costs nothing.
 */
export const MAX_MODEL_LENGTH = 256;
/** OpenAI's own bound on a function/tool name. */
export const MAX_TOOL_NAME_LENGTH = 64;
/** `user` is an end-user id the upstream may log; OpenAI's ids are far shorter. */
export const MAX_USER_LENGTH = 256;
/** Most characters of a client's value an error message quotes. */
const QUOTED_VALUE_LENGTH = 64;

/** A client-chosen value as an error message may quote it: never more than a short prefix. */
export function clip(value: unknown, max = QUOTED_VALUE_LENGTH): string {
  const text = String(value);
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}

export function invalid(param: string, message: string, code = "invalid_value"): ApiError {
  return ApiError.badRequest(message, param, code);
}

/** A string past its bound, refused in OpenAI's words. */
export function stringTooLong(param: string, maxLength: number, length: number): ApiError {
  return invalid(
    param,
    `Invalid '${param}': string too long. Expected a string with maximum length ${maxLength}, but got a string with length ${length} instead.`,
    "string_above_max_length",
  );
}

/**
 * Function tool names bounded as OpenAI bounds them (upstreams echo them in tool calls).
 * `path` is where a tool keeps its name: `function.name` in chat, `name` in responses.
 */
export function validateToolNames(tools: unknown, path: "function.name" | "name"): void {
  if (!Array.isArray(tools)) return;
  tools.forEach((tool, index) => {
    const name = path === "name"
      ? (tool as { name?: unknown } | null)?.name
      : (tool as { function?: { name?: unknown } } | null)?.function?.name;
    if (typeof name === "string" && name.length > MAX_TOOL_NAME_LENGTH) {
      throw stringTooLong(`tools[${index}].${path}`, MAX_TOOL_NAME_LENGTH, name.length);
    }
  });
}

export function requireObject(body: unknown): Body {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw ApiError.badRequest(
      "We could not parse the JSON body of your request. The OpenAI API expects a JSON object.",
      null,
      "invalid_json",
    );
  }
  return body as Body;
}

export function requireModel(body: Body): string {
  const model = body.model;
  if (model === undefined || model === null) {
    throw invalid("model", "you must provide a model parameter", "missing_required_parameter");
  }
  if (typeof model !== "string" || model.length === 0) {
    throw invalid(
      "model",
      "Invalid type for 'model': expected a non-empty string.",
      "invalid_type",
    );
  }
  if (model.length > MAX_MODEL_LENGTH) throw stringTooLong("model", MAX_MODEL_LENGTH, model.length);
  return model;
}

/** A field the request cannot do without (absent or null is refused); its value, unchecked. */
export function requireField(body: Body, field: string): unknown {
  const value = body[field];
  if (value === undefined || value === null) {
    throw invalid(field, `Missing required parameter: '${field}'.`, "missing_required_parameter");
  }
  return value;
}

/** An optional string field with a length bound (absent or null passes). */
export function optionalString(body: Body, field: string, maxLength: number): void {
  const value = body[field];
  if (value === undefined || value === null) return;
  if (typeof value !== "string") {
    throw invalid(
      field,
      `Invalid type for '${field}': expected a string, but got ${typeName(value)} instead.`,
      "invalid_type",
    );
  }
  if (value.length > maxLength) throw stringTooLong(field, maxLength, value.length);
}

export function optionalBoolean(body: Body, field: string): boolean | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "boolean") {
    throw invalid(
      field,
      `Invalid type for '${field}': expected a boolean, but got ${typeName(value)} instead.`,
      "invalid_type",
    );
  }
  return value;
}

export function numberInRange(body: Body, field: string, min: number, max: number): void {
  const value = body[field];
  if (value === undefined || value === null) return;
  if (typeof value !== "number" || !Number.isFinite(value)) {
    throw invalid(
      field,
      `Invalid type for '${field}': expected a number, but got ${typeName(value)} instead.`,
      "invalid_type",
    );
  }
  if (value < min) {
    throw invalid(
      field,
      `Invalid '${field}': decimal below minimum value. Expected a value >= ${min}, but got ${value} instead.`,
    );
  }
  if (value > max) {
    throw invalid(
      field,
      `Invalid '${field}': decimal above maximum value. Expected a value <= ${max}, but got ${value} instead.`,
    );
  }
}

/** An optional integer from `min` to `max` (absent or null: undefined), refused in one line. */
export function optionalIntegerBetween(
  body: Body,
  field: string,
  min: number,
  max: number,
): number | undefined {
  return optionalBetween(body, field, min, max, "integer");
}

/** An optional finite number from `min` to `max` (absent or null: undefined), in one line. */
export function optionalNumberBetween(
  body: Body,
  field: string,
  min: number,
  max: number,
): number | undefined {
  return optionalBetween(body, field, min, max, "number");
}

function optionalBetween(
  body: Body,
  field: string,
  min: number,
  max: number,
  kind: "integer" | "number",
): number | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  const ofKind = typeof value === "number" &&
    (kind === "integer" ? Number.isInteger(value) : Number.isFinite(value));
  if (!ofKind || (value as number) < min || (value as number) > max) {
    const article = kind === "integer" ? "an" : "a";
    throw invalid(field, `Invalid '${field}': expected ${article} ${kind} from ${min} to ${max}.`);
  }
  return value as number;
}

export function integerAtLeast(body: Body, field: string, min: number): void {
  const value = body[field];
  if (value === undefined || value === null) return;
  if (typeof value !== "number" || !Number.isInteger(value)) {
    throw invalid(
      field,
      `Invalid type for '${field}': expected an integer, but got ${typeName(value)} instead.`,
      "invalid_type",
    );
  }
  if (value < min) {
    throw invalid(
      field,
      `Invalid '${field}': integer below minimum value. Expected a value >= ${min}, but got ${value} instead.`,
    );
  }
}

export function validateStop(body: Body): void {
  const stop = body.stop;
  if (stop === undefined || stop === null || typeof stop === "string") return;
  if (!Array.isArray(stop) || !stop.every((item) => typeof item === "string")) {
    throw invalid(
      "stop",
      "Invalid type for 'stop': expected a string or an array of strings.",
      "invalid_type",
    );
  }
  if (stop.length > 4) {
    throw invalid(
      "stop",
      `Invalid 'stop': array too long. Expected an array with maximum length 4, but got an array with length ${stop.length} instead.`,
    );
  }
}

/** `stream` a boolean; `stream_options` an object and only with `stream: true`. Returns stream. */
export function validateStreaming(body: Body): { stream: boolean; includeUsage: boolean } {
  const stream = optionalBoolean(body, "stream") ?? false;
  const options = body.stream_options;
  if (options === undefined || options === null) return { stream, includeUsage: false };
  if (!stream) {
    throw invalid(
      "stream_options",
      "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
      "invalid_value",
    );
  }
  if (typeof options !== "object" || Array.isArray(options)) {
    throw invalid(
      "stream_options",
      "Invalid type for 'stream_options': expected an object.",
      "invalid_type",
    );
  }
  const includeUsage = (options as Body).include_usage;
  if (includeUsage !== undefined && includeUsage !== null && typeof includeUsage !== "boolean") {
    throw invalid(
      "stream_options.include_usage",
      "Invalid type for 'stream_options.include_usage': expected a boolean.",
      "invalid_type",
    );
  }
  return { stream, includeUsage: includeUsage === true };
}

/** The sampling parameters chat and completions share. */
export function validateSampling(body: Body): void {
  numberInRange(body, "temperature", 0, 2);
  numberInRange(body, "top_p", 0, 1);
  numberInRange(body, "presence_penalty", -2, 2);
  numberInRange(body, "frequency_penalty", -2, 2);
  integerAtLeast(body, "max_tokens", 1);
  integerAtLeast(body, "n", 1);
  validateStop(body);
  optionalString(body, "user", MAX_USER_LENGTH);
}

export function typeName(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return `a ${typeof value}`;
}
