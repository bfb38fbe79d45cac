import { ApiError } from "../../common/api-error.ts";

const STANDARD_TYPES = new Set([
  "invalid_request_error",
  "authentication_error",
  "permission_error",
  "not_found_error",
  "rate_limit_error",
  "insufficient_quota",
  "api_error",
  "server_error",
]);

/**
 * Rewrites an upstream error body into the OpenAI envelope, keeping the upstream status:
 * vLLM's `{"error":{…,"type":"BadRequestError","code":400}}` and its older flat shape, Ollama's
 * envelope, `{"error":"text"}` and plain text all become `{error:{message,type,param,code}}`
 * with a string `type` and a string|null `code`.
 *
 * A 401/403 from the upstream is about the gateway's (or the registered) upstream key, not the
 * client's: it becomes a 502 so the client is not told its own key is wrong.
 */
export function upstreamErrorToApiError(
  status: number,
  text: string,
  retryAfter?: string | null,
): ApiError {
  let message = "";
  let type: string | undefined;
  let param: string | null = null;
  let code: string | null = null;
  try {
    const parsed = JSON.parse(text);
    const error = parsed && typeof parsed === "object"
      ? (typeof parsed.error === "object" && parsed.error !== null ? parsed.error : parsed)
      : undefined;
    if (typeof parsed?.error === "string") message = parsed.error;
    else if (error) {
      message = typeof error.message === "string"
        ? error.message
        : typeof error.detail === "string"
        ? error.detail
        : "";
      if (typeof error.type === "string" && STANDARD_TYPES.has(error.type)) type = error.type;
      if (typeof error.param === "string") param = error.param;
      if (typeof error.code === "string") code = error.code;
    }
  } catch {
    message = text.trim().slice(0, 500);
    if (/^<(!doctype|html)/i.test(message)) message = "";
  }
  if (status === 401 || status === 403) {
    return new ApiError(502, "The upstream model server refused the gateway's credentials.", {
      type: "api_error",
      code: "upstream_auth_failed",
    });
  }
  if (!message) message = `The upstream model server answered with HTTP ${status}.`;
  if (status === 404 && !code && /model/i.test(message)) code = "model_not_found";
  const headers: Record<string, string> = {};
  if (status === 429 && retryAfter) headers["retry-after"] = retryAfter;
  const effectiveType = type === "not_found_error" ? "invalid_request_error" : type;
  return new ApiError(status >= 400 && status <= 599 ? status : 502, message, {
    type: effectiveType,
    param,
    code: code ?? (status >= 500 ? "upstream_error" : null),
    headers,
  });
}

export function upstreamUnavailable(): ApiError {
  return new ApiError(502, "The upstream model server is unreachable.", {
    type: "api_error",
    code: "upstream_unavailable",
  });
}

export function upstreamTimeout(afterMs: number, what: "connect" | "first byte"): ApiError {
  return new ApiError(
    504,
    `The upstream model server did not respond in time (${what} timeout after ${afterMs} ms).`,
    {
      type: "api_error",
      code: "upstream_timeout",
    },
  );
}

/** The upstream's body broke a limit (too large, too slow, a frame too long, a bad index). */
export function upstreamInvalidResponse(detail: string): ApiError {
  return new ApiError(502, `The upstream model server's response was refused: ${detail}.`, {
    type: "api_error",
    code: "upstream_invalid_response",
  });
}
