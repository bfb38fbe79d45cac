import { ApiError } from "./api-error.ts";

/** A `limit` query parameter: absent or empty means `fallback`; otherwise an integer 1…max. */
export function parseLimit(
  value: string | undefined,
  options: { fallback: number; max: number },
): number {
  if (value === undefined || value === "") return options.fallback;
  const limit = Number(value);
  if (!Number.isInteger(limit) || limit < 1 || limit > options.max) {
    throw ApiError.badRequest(
      `Invalid 'limit': expected an integer from 1 to ${options.max}.`,
      "limit",
      "invalid_value",
    );
  }
  return limit;
}
