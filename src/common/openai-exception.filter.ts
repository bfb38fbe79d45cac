import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException } from "@nestjs/common";
import type { FastifyReply, FastifyRequest } from "fastify";
import { ApiError, type ApiErrorOptions, isNonRetryableStatus } from "./api-error.ts";
import { DomainError } from "./domain-error.ts";
import { logger } from "./json-logger.ts";

/**
 * Every error leaves in the OpenAI envelope. Known errors keep their message; anything
 * unexpected becomes a 500 with a generic message (the stack goes to our logs, never to the
 * client). Runs for route errors, Fastify parser errors (malformed JSON, oversized bodies) and
 * unknown routes alike.
 */
@Catch()
export class OpenAiExceptionFilter implements ExceptionFilter {
  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const reply = http.getResponse<FastifyReply>();
    const request = http.getRequest<FastifyRequest>();
    const error = toApiError(exception, request);
    if (error.getStatus() >= 500) {
      logger.write("error", "request failed", {
        requestId: request?.id,
        method: request?.method,
        url: request?.routeOptions?.url ?? request?.url?.split("?")[0],
        error: exception instanceof Error ? exception.message : String(exception),
        stack: exception instanceof Error ? exception.stack : undefined,
      });
    }
    sendApiError(reply, error);
  }
}

export function sendApiError(reply: FastifyReply, error: ApiError): void {
  if (reply.sent || reply.raw.headersSent) {
    // A stream already started: the stream owner reports errors in-band; just end it.
    if (!reply.raw.writableEnded) reply.raw.end();
    return;
  }
  const status = error.getStatus();
  for (const [name, value] of Object.entries(error.headers)) reply.header(name, value);
  if (isNonRetryableStatus(status)) reply.header("x-should-retry", "false");
  reply.status(status).type("application/json").send(error.body());
}

export function toApiError(exception: unknown, request?: FastifyRequest): ApiError {
  if (exception instanceof ApiError) return exception;
  if (exception instanceof DomainError) return fromDomainError(exception);
  if (exception instanceof HttpException) {
    // Nest's adapter wraps Fastify's own 4xx errors (parser, content type) with the original as
    // the cause; the cause's code says what went wrong better than its message.
    const cause = exception.cause as { code?: unknown } | undefined;
    if (typeof cause?.code === "string" && cause.code.startsWith("FST_")) {
      return fromFrameworkError(exception.getStatus(), cause.code, exception.message);
    }
    return fromHttpException(exception, request);
  }
  const fastifyError = exception as { statusCode?: number; code?: string; message?: string };
  if (typeof fastifyError?.statusCode === "number" && fastifyError.statusCode < 500) {
    return fromFrameworkError(fastifyError.statusCode, fastifyError.code, fastifyError.message);
  }
  return new ApiError(500, "The server had an error while processing your request.", {
    type: "server_error",
    code: "internal_error",
  });
}

function fromHttpException(exception: HttpException, request?: FastifyRequest): ApiError {
  const status = exception.getStatus();
  if (status === 404) {
    // The path is echoed for the client's sake, but only so much of it: URLs run to 16 KB.
    const fullPath = request?.url?.split("?")[0] ?? "";
    const path = fullPath.length > 256 ? `${fullPath.slice(0, 256)}…` : fullPath;
    return new ApiError(404, `Unknown request URL: ${request?.method ?? "GET"} ${path}.`, {
      type: "invalid_request_error",
      code: "unknown_url",
    });
  }
  const response = exception.getResponse() as { message?: unknown } | string;
  const message = typeof response === "string"
    ? response
    : Array.isArray(response?.message)
    ? response.message.join("; ")
    : String(response?.message ?? exception.message);
  if (status === 413) return payloadTooLarge();
  if (status === 400 && /valid JSON/i.test(message)) {
    return new ApiError(400, `We could not parse the JSON body of your request: ${message}.`, {
      code: "invalid_json",
    });
  }
  return new ApiError(status, message, {
    code: status === 429 ? "rate_limit_exceeded" : null,
  });
}

function fromFrameworkError(status: number, code?: string, message?: string): ApiError {
  switch (code) {
    case "FST_ERR_CTP_INVALID_JSON_BODY":
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return new ApiError(
        400,
        "We could not parse the JSON body of your request. The OpenAI API expects a JSON payload.",
        { code: "invalid_json" },
      );
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return payloadTooLarge();
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return unsupportedMediaType();
    case "FST_ERR_CTP_INVALID_CONTENT_LENGTH":
      return new ApiError(400, "The request body's size does not match its Content-Length.", {
        code: "invalid_content_length",
      });
  }
  if (status === 413) return payloadTooLarge();
  if (status === 415) return unsupportedMediaType();
  if (status === 400 && message && /JSON/i.test(message)) {
    return new ApiError(400, "We could not parse the JSON body of your request.", {
      code: "invalid_json",
    });
  }
  return new ApiError(status, status === 400 ? "Bad request." : (message ?? "Request failed."), {
    code: "invalid_request",
  });
}

function unsupportedMediaType(): ApiError {
  return new ApiError(415, "Unsupported Content-Type; send application/json.", {
    code: "unsupported_media_type",
  });
}

function payloadTooLarge(): ApiError {
  return new ApiError(413, "Request body too large.", { code: "payload_too_large" });
}

/**
 * How each domain refusal reads over HTTP. This table is the only place a domain error becomes
 * a status: domain code, background processes and the CLI reason in codes. A code not listed is a
 * client error (400) under its own name, since domain errors are rule refusals, not faults.
 */
const DOMAIN_ERRORS: Record<string, { status: number } & Omit<ApiErrorOptions, "headers">> = {
  // billing (LedgerRejected, LedgerBusy)
  insufficient_credits: { status: 402, type: "insufficient_quota" },
  unknown_reservation: { status: 404 },
  unknown_charge: { status: 404 },
  ledger_conflict: { status: 503, type: "api_error" },
  // auth (AuthRuleViolation)
  email_taken: { status: 409, param: "email" },
  account_exists: { status: 409 },
  account_not_found: { status: 404 },
  api_key_not_found: { status: 404 },
  account_conflict: { status: 409, code: "conflict" },
  invalid_credentials: { status: 401, type: "invalid_request_error" },
  // OAuth sign-in (OAuthRejected); the callback redirects with the others' codes instead
  oauth_provider_not_configured: { status: 404, param: "provider" },
  account_disabled: { status: 403, type: "permission_error" },
  session_not_found: { status: 404, param: "id" },
  invalid_current_password: { status: 400, param: "current_password" },
  insufficient_permissions: { status: 403, type: "permission_error" },
  // deployments (DeploymentRejected)
  deployment_exists: { status: 409 },
  deployment_not_found: { status: 404, param: "id" },
  invalid_deployment_state: { status: 409 },
  // sleep and wake (DeploymentWaker)
  model_warming_up: { status: 503, type: "api_error", param: "model" },
  spend_cap_reached: { status: 402, type: "insufficient_quota", param: "model" },
  wake_failed: { status: 503, type: "api_error", param: "model" },
  // model groups (ModelGroupRejected; the inference router's model_group_unavailable)
  model_group_exists: { status: 409, param: "name" },
  model_group_not_found: { status: 404, param: "id" },
  model_group_limit_reached: { status: 403, type: "permission_error" },
  model_group_unavailable: { status: 503, type: "api_error", param: "model" },
  // generation (JobRejected)
  job_exists: { status: 409 },
  unknown_job: { status: 404, code: "job_not_found", param: "job_id" },
  job_finished: { status: 409, code: "job_not_cancellable" },
  // realtime (RealtimeRejected, RealtimeUpstreamError, RealtimeSessionRejected)
  model_not_realtime: { status: 400, type: "invalid_request_error", param: "model" },
  realtime_upstream_unavailable: { status: 502, type: "api_error" },
  realtime_probe_failed: { status: 400, param: "realtime" },
  realtime_session_exists: { status: 409 },
  realtime_session_unknown: { status: 404 },
  // read models (ReadModelUnavailable)
  projection_lagging: { status: 503, type: "api_error" },
  projection_failed: { status: 503, type: "api_error" },
  shutting_down: { status: 503, type: "api_error" },
};

function fromDomainError(error: DomainError): ApiError {
  const mapping = DOMAIN_ERRORS[error.code] ?? { status: 400 };
  return new ApiError(mapping.status, error.message, {
    type: mapping.type,
    code: mapping.code ?? error.code,
    param: error.param ?? mapping.param ?? null,
    extra: mapping.extra,
    headers: error.retryAfterSeconds !== undefined
      ? { "retry-after": String(error.retryAfterSeconds) }
      : undefined,
  });
}
