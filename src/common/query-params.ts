import { isISO8601 } from "./validators.ts";
import { ApiError } from "./api-error.ts";

/**
 * Query parameters as they arrive: absent, one string, or an array when the key is repeated
 * (`?before=a&before=b`). Every reader goes through these helpers, so a repeated key, an
 * unparsable date or an out-of-range number is a 400 naming the parameter, never a 500 from
 * deeper down (a SQLite bind, `toISOString`, a BigInt bind).
 */
export type QueryValue = string | string[] | undefined;

/** Ids, cursors and names in a query are at most this long unless a reader says otherwise. */
export const MAX_QUERY_VALUE_LENGTH = 256;

/** The largest stream revision or log position: a signed 64-bit integer. */
export const MAX_POSITION = 2n ** 63n - 1n;

function invalid(param: string, expected: string): ApiError {
  return ApiError.badRequest(`Invalid '${param}': expected ${expected}.`, param, "invalid_value");
}

/** One string value; absent or empty is `undefined`. */
export function queryString(
  value: unknown,
  param: string,
  maxLength = MAX_QUERY_VALUE_LENGTH,
): string | undefined {
  if (value === undefined || value === "") return undefined;
  if (typeof value !== "string") throw invalid(param, "a single value (the key is repeated)");
  if (value.length > maxLength) throw invalid(param, `at most ${maxLength} characters`);
  return value;
}

/** A `limit` query parameter: absent or empty means `fallback`; otherwise an integer 1…max. */
export function parseLimit(
  value: unknown,
  options: { fallback: number; max: number },
  param = "limit",
): number {
  const text = queryString(value, param, 20);
  if (text === undefined) return options.fallback;
  const limit = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(limit) || limit < 1 || limit > options.max) {
    throw invalid(param, `an integer from 1 to ${options.max}`);
  }
  return limit;
}

/** One of a fixed set of values. */
export function parseOneOf<T extends string>(
  value: unknown,
  param: string,
  allowed: readonly T[],
): T | undefined {
  const text = queryString(value, param, 64);
  if (text === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(text)) {
    throw invalid(param, `one of ${allowed.join(", ")}`);
  }
  return text as T;
}

/**
 * An ISO 8601 instant. `IsISO8601` alone also admits week and ordinal dates (`2020-W01`,
 * `2020-100`) that `Date` cannot represent, so the value must also parse to a real time.
 */
export function parseTimestamp(value: unknown, param: string): Date | undefined {
  const text = queryString(value, param, 64);
  if (text === undefined) return undefined;
  const time = isISO8601(text, { strict: true }) ? Date.parse(text) : NaN;
  if (Number.isNaN(time)) {
    throw invalid(param, "an ISO 8601 date or date-time, e.g. 2026-01-31T00:00:00Z");
  }
  return new Date(time);
}

/** A non-negative 64-bit position or revision; absent or empty is `undefined`. */
export function parsePosition(value: unknown, param: string): bigint | undefined {
  const text = queryString(value, param, 20);
  if (text === undefined) return undefined;
  const position = /^\d{1,19}$/.test(text) ? BigInt(text) : -1n;
  if (position < 0n || position > MAX_POSITION) {
    throw invalid(param, `a non-negative integer up to ${MAX_POSITION}`);
  }
  return position;
}

/**
 * An `Idempotency-Key` header (a request parameter that travels as a header): at most 255
 * printable ASCII characters, as Stripe allows. It becomes part of event ids, so it is bounded.
 */
export function parseIdempotencyKey(value: unknown): string | undefined {
  if (value === undefined || value === "") return undefined;
  if (typeof value !== "string" || !/^[\x20-\x7e]{1,255}$/.test(value)) {
    throw ApiError.badRequest(
      "Invalid 'Idempotency-Key': expected at most 255 printable ASCII characters.",
      "Idempotency-Key",
      "invalid_value",
    );
  }
  return value;
}
