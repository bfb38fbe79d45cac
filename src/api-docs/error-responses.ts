/**
 * The OpenAI error envelope as an OpenAPI schema, and what each status means on this gateway.
 * One table, so every route that lists a status describes it the same way.
 */

export const ERROR_RESPONSE_SCHEMA_NAME = "ErrorResponse";

export const ERROR_RESPONSE_REF = `#/components/schemas/${ERROR_RESPONSE_SCHEMA_NAME}`;

export const ERROR_RESPONSE_SCHEMA = {
  type: "object",
  description: "The OpenAI error envelope; `param` names the offending field when there is one.",
  required: ["error"],
  properties: {
    error: {
      type: "object",
      required: ["message", "type", "param", "code"],
      properties: {
        message: { type: "string", description: "What went wrong, for a person." },
        type: {
          type: "string",
          examples: ["invalid_request_error", "permission_error", "rate_limit_error"],
        },
        param: { type: ["string", "null"], description: "The field or parameter at fault." },
        code: { type: ["string", "null"], description: "A stable machine-readable code." },
      },
    },
  },
  additionalProperties: true,
} as const;

export type ErrorStatus =
  | 400
  | 401
  | 402
  | 403
  | 404
  | 408
  | 409
  | 413
  | 426
  | 429
  | 500
  | 502
  | 503
  | 504;

export const ERROR_DESCRIPTIONS: Record<ErrorStatus, string> = {
  400: "Invalid request: a malformed body, an unknown or invalid field, or a bad query or path " +
    "parameter (`param` names it).",
  401: "Missing, unknown, expired or revoked credentials.",
  402: "Not enough available credits for this request (`insufficient_credits`).",
  403: "The credential lacks the required permission, the account is disabled " +
    "(`account_disabled`), or a cookie request has no valid `X-CSRF-Token` (`csrf_token_invalid`).",
  404: "No such resource for this account.",
  408: "The request was not received in time.",
  409: "The request conflicts with the resource's current state.",
  413: "The body is larger than `BODY_LIMIT_BYTES`.",
  426: "This endpoint needs a protocol upgrade (a WebSocket), not a plain request.",
  429: "Rate limited (per IP, key or account, or too many concurrent requests); see `Retry-After`.",
  500: "An unexpected server error.",
  502: "The upstream model server failed or answered something invalid.",
  503:
    "Temporarily unavailable: shutting down, a read model is catching up, or the store is busy; " +
    "retry.",
  504: "The upstream did not answer in time.",
};

/** An OpenAPI response object for an error status, in the envelope. */
export function errorResponse(status: ErrorStatus, description?: string) {
  return {
    description: description ?? ERROR_DESCRIPTIONS[status],
    content: { "application/json": { schema: { $ref: ERROR_RESPONSE_REF } } },
  };
}
