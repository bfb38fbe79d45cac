import { Inject, Injectable } from "@nestjs/common";
import { ApiError } from "../../common/api-error.ts";
import { BodyLimitExceeded, BoundedBody } from "../../common/bounded-body.ts";
import { sleep } from "../../common/sleep.ts";
import { APP_CONFIG, type AppConfig } from "../../config/config.ts";
import type { Route } from "../model-router.ts";
import { FirstByteDeadlines } from "./first-byte-deadlines.ts";
import { ForbiddenUpstreamAddress, guardedFetch } from "./guarded-transport.ts";
import {
  upstreamErrorToApiError,
  upstreamInvalidResponse,
  upstreamTimeout,
  upstreamUnavailable,
} from "./upstream-errors.ts";

/** The client went away; the upstream call was aborted. */
export class ClientAborted extends Error {
  override readonly name = "ClientAborted";
}

export interface OpenedUpstream {
  response: Response;
  /** Aborts the upstream request (client disconnect, gateway shutdown). */
  abort(): void;
  /** Milliseconds from the first attempt to the response headers. */
  headersMs: number;
  /**
   * The response body through UPSTREAM_MAX_RESPONSE_BYTES, UPSTREAM_IDLE_TIMEOUT_MS and
   * UPSTREAM_TOTAL_TIMEOUT_MS (counted from the first attempt); a breach aborts the call and
   * throws BodyLimitExceeded. Read it here, never through `response.body`.
   */
  body: BoundedBody;
}

/**
 * The whole (non-stream) body as text. A broken limit is a 502 `upstream_invalid_response`; a
 * connection that fails mid-body is a 502 `upstream_unavailable`.
 */
export async function readUpstreamText(opened: OpenedUpstream): Promise<string> {
  try {
    return await opened.body.text();
  } catch (error) {
    opened.abort();
    if (error instanceof BodyLimitExceeded) throw upstreamInvalidResponse(error.message);
    throw upstreamUnavailable();
  }
}

/** A non-stream answer's body as JSON: a 502 when it is not JSON or is an upstream error. */
export function parseUpstreamJson(text: string): any {
  let data: any;
  try {
    data = JSON.parse(text);
  } catch {
    throw new ApiError(502, "The upstream model server sent a response that is not JSON.", {
      type: "api_error",
      code: "upstream_bad_response",
    });
  }
  if (!data || typeof data !== "object" || data.error) {
    throw new ApiError(
      502,
      String(data?.error?.message ?? data?.error ?? "The upstream model server failed."),
      {
        type: "api_error",
        code: "upstream_error",
      },
    );
  }
  return data;
}

/**
 * Why the gateway ended an upstream call it had opened (every relayed stream ends so). One shared
 * reason: aborting without one builds a DOMException with its stack each time, which was most of
 * the cost of ending a stream.
 */
const ENDED_BY_GATEWAY = new Error("the gateway ended the upstream call");

const MAX_ATTEMPTS = 3;
const MAX_ERROR_BODY = 64 * 1024;

/**
 * Calls an upstream's OpenAI-compatible API. First-byte timeout (UPSTREAM_FIRST_BYTE_TIMEOUT_MS)
 * until the response headers, connect timeout (UPSTREAM_CONNECT_TIMEOUT_MS) for account-supplied
 * upstreams, redirects refused, retries only when no connection could be made (nothing reached
 * the upstream, so a retry cannot run the request twice). Non-2xx answers become envelopes.
 */
@Injectable()
export class UpstreamClient {
  private readonly firstByteTimeoutMs: number;
  private readonly firstByteDeadlines: FirstByteDeadlines;
  private readonly connectTimeoutMs: number;
  private readonly maxResponseBytes: number;
  private readonly idleTimeoutMs: number;
  private readonly totalTimeoutMs: number;
  /** Largest SSE frame a stream relay accepts from the upstream (UPSTREAM_MAX_FRAME_BYTES). */
  readonly maxFrameBytes: number;
  /** How long a relay may hold an upstream for a client that does not drain (STREAM_STALL_TIMEOUT_MS). */
  readonly streamStallTimeoutMs: number;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.firstByteTimeoutMs = config.upstreamFirstByteTimeoutMs;
    this.firstByteDeadlines = new FirstByteDeadlines(this.firstByteTimeoutMs);
    this.connectTimeoutMs = config.upstreamConnectTimeoutMs;
    this.maxResponseBytes = config.upstreamMaxResponseBytes;
    this.idleTimeoutMs = config.upstreamIdleTimeoutMs;
    this.totalTimeoutMs = config.upstreamTotalTimeoutMs;
    this.maxFrameBytes = config.upstreamMaxFrameBytes;
    this.streamStallTimeoutMs = config.streamStallTimeoutMs;
  }

  async open(
    route: Route,
    method: "GET" | "POST",
    path: string,
    payload: string | undefined,
    clientSignal?: AbortSignal,
  ): Promise<OpenedUpstream> {
    const url = `${route.baseUrl}${path}`;
    const headers: Record<string, string> = {
      accept: method === "POST" ? "application/json, text/event-stream" : "application/json",
    };
    if (payload !== undefined) headers["content-type"] = "application/json";
    if (route.authorization) headers.authorization = route.authorization;
    const started = performance.now();
    for (let attempt = 1;; attempt++) {
      if (clientSignal?.aborted) throw new ClientAborted("client disconnected");
      const controller = new AbortController();
      let timedOut: "connect" | "first byte" | undefined;
      // Stays attached for the body too: the client going away aborts the whole call.
      const onClientAbort = () => controller.abort();
      clientSignal?.addEventListener("abort", onClientAbort, { once: true });
      const firstByte = this.firstByteDeadlines.start(() => {
        timedOut = "first byte";
        controller.abort();
      });
      let response: Response;
      try {
        response = route.guarded
          ? await this.guarded(
            url,
            method,
            headers,
            payload,
            controller,
            () => (timedOut = "connect"),
          )
          : await fetch(url, {
            method,
            headers,
            body: payload,
            signal: controller.signal,
            redirect: "manual",
          });
      } catch (error) {
        this.firstByteDeadlines.settle(firstByte);
        clientSignal?.removeEventListener("abort", onClientAbort);
        if (clientSignal?.aborted) throw new ClientAborted("client disconnected");
        if (timedOut) {
          throw upstreamTimeout(
            timedOut === "connect" ? this.connectTimeoutMs : this.firstByteTimeoutMs,
            timedOut,
          );
        }
        if (
          error instanceof ForbiddenUpstreamAddress ||
          (error as { cause?: unknown }).cause instanceof ForbiddenUpstreamAddress
        ) {
          throw new ApiError(
            400,
            "The deployment's upstream address is not allowed (private or loopback address).",
            {
              type: "invalid_request_error",
              param: "model",
              code: "upstream_address_forbidden",
            },
          );
        }
        if (attempt < MAX_ATTEMPTS && isConnectFailure(error)) {
          await sleep(25 * 2 ** attempt);
          continue;
        }
        throw upstreamUnavailable();
      }
      // From here the first-byte timeout no longer applies; the caller owns the body.
      this.firstByteDeadlines.settle(firstByte);
      const body = BoundedBody.of(response, {
        maxBytes: this.maxResponseBytes,
        idleTimeoutMs: this.idleTimeoutMs,
        deadline: started + this.totalTimeoutMs,
        totalTimeoutMs: this.totalTimeoutMs,
      }, () => controller.abort());
      const opened: OpenedUpstream = {
        response,
        abort: () => {
          body.cancel();
          controller.abort(ENDED_BY_GATEWAY);
        },
        headersMs: performance.now() - started,
        body,
      };
      if (response.status >= 300 && response.status < 400) {
        opened.abort();
        throw new ApiError(
          502,
          "The upstream model server answered with a redirect, which the gateway does not follow.",
          {
            type: "api_error",
            code: "upstream_redirect",
          },
        );
      }
      if (!response.ok) {
        const text = await readLimited(opened.body, MAX_ERROR_BODY).catch(() => "");
        opened.abort();
        throw upstreamErrorToApiError(response.status, text, response.headers.get("retry-after"));
      }
      return opened;
    }
  }

  private guarded(
    url: string,
    method: string,
    headers: Record<string, string>,
    payload: string | undefined,
    controller: AbortController,
    markConnectTimeout: () => void,
  ): Promise<Response> {
    const connectTimer = setTimeout(() => {
      markConnectTimeout();
      controller.abort();
    }, this.connectTimeoutMs);
    return guardedFetch(url, {
      method,
      headers,
      body: payload,
      signal: controller.signal,
      onConnect: () => clearTimeout(connectTimer),
    }).finally(() => clearTimeout(connectTimer));
  }
}

function isConnectFailure(error: unknown): boolean {
  const text = `${(error as Error)?.message ?? ""} ${
    String((error as { cause?: unknown })?.cause ?? "")
  } ${(error as { code?: string })?.code ?? ""}`;
  return /ECONNREFUSED|connection refused|tcp connect error|EHOSTUNREACH|ENETUNREACH/i.test(text);
}

/** At most `limit` bytes of an error body (enough for its message), then the body is dropped. */
async function readLimited(body: BoundedBody, limit: number): Promise<string> {
  const decoder = new TextDecoder();
  let text = "";
  let bytes = 0;
  for (;;) {
    const chunk = await body.read();
    if (!chunk) break;
    text += decoder.decode(chunk, { stream: true });
    bytes += chunk.byteLength;
    if (bytes >= limit) break;
  }
  body.cancel();
  return text;
}
