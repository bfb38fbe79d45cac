import { ApiError } from "../../common/api-error.ts";
import {
  RunpodAuthError,
  RunpodBadRequest,
  RunpodConflict,
  RunpodError,
  RunpodNotFound,
  RunpodRateLimited,
  RunpodTimeout,
  RunpodUnavailable,
} from "../../runpod/runpod-http.ts";

const NO_CAPACITY = /no longer any instances available|no instances available|not enough free/i;

/** RunPod refused for lack of GPUs: nothing was created, so the request is safe to report as is. */
export function isNoCapacity(error: RunpodError): boolean {
  return error instanceof RunpodUnavailable && NO_CAPACITY.test(error.detail);
}

/**
 * A RunPod failure as the API error a client can act on. Messages come from the typed error
 * (method, path, RunPod's detail), which the RunPod client already scrubbed of the API key.
 * Anything else is a fault of ours and is answered unchanged, so the exception filter logs it
 * and the client gets the generic 500 instead of an internal message.
 */
export function runpodApiError(error: unknown, action: string): unknown {
  if (!(error instanceof RunpodError)) return error;
  const detail = error.detail;
  if (error instanceof RunpodRateLimited) {
    const seconds = Math.max(1, Math.ceil((error.retryAfterMs ?? 1000) / 1000));
    return new ApiError(
      429,
      `RunPod is rate limiting requests; could not ${action}. Try again later.`,
      {
        type: "rate_limit_error",
        code: "runpod_rate_limited",
        headers: { "retry-after": String(seconds) },
      },
    );
  }
  if (error instanceof RunpodTimeout) {
    return new ApiError(504, `RunPod did not answer in time; could not ${action}.`, {
      type: "api_error",
      code: "runpod_timeout",
      headers: { "retry-after": "5" },
    });
  }
  if (error instanceof RunpodUnavailable) {
    if (isNoCapacity(error)) {
      return new ApiError(
        503,
        `No GPU of the requested type is available on RunPod right now: ${detail}`,
        {
          type: "api_error",
          param: "gpu_type_id",
          code: "gpu_unavailable",
          headers: { "retry-after": "30" },
        },
      );
    }
    return new ApiError(503, `RunPod is unavailable; could not ${action}: ${detail}`, {
      type: "api_error",
      code: "runpod_unavailable",
      headers: { "retry-after": "5" },
    });
  }
  if (error instanceof RunpodConflict) {
    return new ApiError(409, `RunPod refused to ${action} in the pod's current state: ${detail}`, {
      type: "invalid_request_error",
      code: "invalid_pod_state",
    });
  }
  if (error instanceof RunpodNotFound) {
    return new ApiError(404, `RunPod has no such pod; could not ${action}.`, {
      type: "invalid_request_error",
      code: "pod_not_found",
    });
  }
  if (error instanceof RunpodAuthError) {
    return new ApiError(502, `RunPod rejected this gateway's credentials; could not ${action}.`, {
      type: "api_error",
      code: "runpod_auth_failed",
    });
  }
  if (error instanceof RunpodBadRequest) {
    return new ApiError(400, `RunPod rejected the request to ${action}: ${detail}`, {
      type: "invalid_request_error",
      code: "runpod_rejected_request",
    });
  }
  return new ApiError(502, `RunPod failed; could not ${action}: ${detail}`, {
    type: "api_error",
    code: "runpod_error",
  });
}
