import { ApiError } from "../common/api-error.ts";
import {
  invalid,
  optionalBoolean,
  optionalIntegerBetween,
  optionalNumberBetween,
  requireField,
} from "../common/body-fields.ts";

/** What clients pass as `model` to reach a deployment; the same rule for pods and external servers. */
export const DEPLOYMENT_NAME = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$/;

/** Longest string field a deployments body takes unless the field says otherwise. */
export const DEFAULT_MAX_FIELD_LENGTH = 256;

/**
 * Refuses a body with a field the route does not take: a 400 naming it (`param`), so a chat or
 * generation body posted here by mistake, or a setting this version does not have (such as
 * `idle_timeout` for `idle_timeout_s`), is never silently ignored while a pod is rented.
 */
export function refuseUnknownFields(body: unknown, allowed: readonly string[]): void {
  if (body === undefined || body === null) return;
  if (typeof body !== "object" || Array.isArray(body)) {
    throw ApiError.badRequest("The request body must be a JSON object.", null, "invalid_json");
  }
  const unknown = Object.keys(body).filter((key) => !allowed.includes(key));
  if (unknown.length === 0) return;
  const shown = unknown.slice(0, 5).map((key) => `'${key.slice(0, 64)}'`).join(", ");
  throw invalid(
    unknown[0].slice(0, 64),
    `Unrecognized request argument${unknown.length > 1 ? "s" : ""} supplied: ${shown}${
      unknown.length > 5 ? ` and ${unknown.length - 5} more` : ""
    }. This route takes: ${allowed.length ? allowed.join(", ") : "no body"}.`,
    "unknown_parameter",
  );
}

/**
 * A string field of a `POST /api/deployments` body, trimmed; a 400 naming the field when it is
 * missing (and required), not a non-empty string, or longer than `maxLength`.
 */
export function textField(
  body: Record<string, unknown>,
  field: string,
  required: true,
  maxLength?: number,
): string;
export function textField(
  body: Record<string, unknown>,
  field: string,
  required: false,
  maxLength?: number,
): string | undefined;
export function textField(
  body: Record<string, unknown>,
  field: string,
  required: boolean,
  maxLength = DEFAULT_MAX_FIELD_LENGTH,
): string | undefined {
  const value = required ? requireField(body, field) : body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string" || value.trim() === "") {
    throw invalid(field, `Invalid '${field}': expected a non-empty string.`, "invalid_type");
  }
  if (value.length > maxLength) {
    throw invalid(
      field,
      `Invalid '${field}': at most ${maxLength} characters.`,
      "string_above_max_length",
    );
  }
  return value.trim();
}

/** Refuses a deployment name clients could not pass as `model`. */
export function checkDeploymentName(name: string): string {
  if (!DEPLOYMENT_NAME.test(name)) {
    throw invalid(
      "name",
      "Invalid 'name': use 1-128 letters, digits and . _ : / - (starting with a letter or digit).",
    );
  }
  return name;
}

/** idle_timeout_s bounds: a minute (shorter would stop pods between a user's requests) to a day. */
export const IDLE_TIMEOUT_S = { min: 60, max: 86_400 } as const;
/** max_spend_usd bounds per calendar month; cents are the finest step. */
export const MAX_SPEND_USD = { min: 0.01, max: 100_000 } as const;
/** The sleep-and-wake fields a deploy (and `PATCH /api/deployments/{id}`) takes. */
export const SLEEP_FIELDS = ["idle_timeout_s", "wake_on_request", "max_spend_usd"] as const;

/**
 * idle_timeout_s, wake_on_request and max_spend_usd of a body, bounded; a 400 naming the field.
 * `null` (PATCH only) clears a setting; absent leaves it alone.
 */
export function sleepFields(body: Record<string, unknown>, allowNull = false): {
  idleTimeoutS?: number | null;
  wakeOnRequest?: boolean;
  maxSpendMicros?: number | null;
} {
  const out: {
    idleTimeoutS?: number | null;
    wakeOnRequest?: boolean;
    maxSpendMicros?: number | null;
  } = {};
  const nulled = (field: string) => allowNull && body[field] === null;
  if (nulled("idle_timeout_s")) out.idleTimeoutS = null;
  else {
    const idle = optionalIntegerBetween(
      body,
      "idle_timeout_s",
      IDLE_TIMEOUT_S.min,
      IDLE_TIMEOUT_S.max,
    );
    if (idle !== undefined) out.idleTimeoutS = idle;
  }
  const wake = optionalBoolean(body, "wake_on_request");
  if (wake !== undefined) out.wakeOnRequest = wake;
  if (nulled("max_spend_usd")) out.maxSpendMicros = null;
  else {
    const cap = optionalNumberBetween(body, "max_spend_usd", MAX_SPEND_USD.min, MAX_SPEND_USD.max);
    if (cap !== undefined) out.maxSpendMicros = Math.round(cap * 100) * 10_000;
  }
  return out;
}
