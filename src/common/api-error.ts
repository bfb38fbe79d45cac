import { HttpException } from "@nestjs/common";

/**
 * The one error type the HTTP layer understands. Everything a client sees as an error is an
 * ApiError rendered in the OpenAI envelope `{"error":{"message","type","param","code"}}` by
 * the global exception filter (common/openai-exception.filter.ts).
 */
export type OpenAiErrorType =
  | "invalid_request_error"
  | "authentication_error"
  | "permission_error"
  | "not_found_error"
  | "rate_limit_error"
  | "insufficient_quota"
  | "api_error"
  | "server_error";

export interface OpenAiErrorBody {
  message: string;
  type: string;
  param: string | null;
  code: string | null;
}

export interface ApiErrorOptions {
  type?: OpenAiErrorType | string;
  param?: string | null;
  code?: string | null;
  /** Extra top-level fields beside `error`, e.g. `available_models`. */
  extra?: Record<string, unknown>;
  headers?: Record<string, string>;
}

export class ApiError extends HttpException {
  readonly type: string;
  readonly param: string | null;
  readonly code: string | null;
  readonly extra: Record<string, unknown>;
  readonly headers: Record<string, string>;

  constructor(status: number, message: string, options: ApiErrorOptions = {}) {
    super(message, status);
    this.type = options.type ?? defaultTypeFor(status);
    this.param = options.param ?? null;
    this.code = options.code ?? null;
    this.extra = options.extra ?? {};
    this.headers = options.headers ?? {};
  }

  body(): { error: OpenAiErrorBody } & Record<string, unknown> {
    return {
      error: { message: this.message, type: this.type, param: this.param, code: this.code },
      ...this.extra,
    };
  }

  static badRequest(message: string, param: string | null = null, code: string | null = null) {
    return new ApiError(400, message, { param, code });
  }

  static notFound(message: string, code: string | null = "not_found", param: string | null = null) {
    return new ApiError(404, message, { type: "invalid_request_error", code, param });
  }

  static unauthorized(message: string, code = "invalid_api_key") {
    return new ApiError(401, message, { type: "invalid_request_error", code });
  }

  static forbidden(message: string, code = "insufficient_permissions") {
    return new ApiError(403, message, { type: "permission_error", code });
  }

  static insufficientCredits(message = "Insufficient credits for this request") {
    return new ApiError(402, message, { type: "insufficient_quota", code: "insufficient_credits" });
  }

  static conflict(message: string, code: string | null = "conflict") {
    return new ApiError(409, message, { type: "invalid_request_error", code });
  }
}

function defaultTypeFor(status: number): string {
  if (status === 401) return "authentication_error";
  if (status === 403) return "permission_error";
  if (status === 404) return "invalid_request_error";
  if (status === 429) return "rate_limit_error";
  if (status >= 500) return "api_error";
  return "invalid_request_error";
}

/** Statuses a client must not retry; they carry `x-should-retry: false`. */
export function isNonRetryableStatus(status: number): boolean {
  return status === 400 || status === 401 || status === 402 || status === 403 ||
    status === 404 || status === 422;
}
