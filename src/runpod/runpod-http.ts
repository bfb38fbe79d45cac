/**
 * The one way ModelPilot calls RunPod over HTTP: base URL + Bearer key, a timeout per attempt,
 * bounded retries with exponential backoff and jitter, and typed errors.
 *
 * Retry rules:
 * - 429 is retried for every request: a rate-limited request was refused before any work
 *   happened. Retry-After (seconds or date) or a RateLimit header with r=0 sets the delay.
 * - 5xx, timeouts and connection errors are retried only for idempotent methods (GET, HEAD,
 *   PUT, DELETE) or requests the caller marks `retrySafe`. A POST that timed out or got a 5xx
 *   may have been carried out: retrying `POST /pods` could rent a second GPU billed by the hour,
 *   and retrying `/run` could run (and charge) a job twice. Those callers reconcile instead
 *   (list pods by name, look the job up) and get the error.
 *
 * The API key is only ever put in the Authorization header; error messages are built from the
 * method, the path and the server's detail, with the key scrubbed from the detail.
 */

import { BoundedBody } from "../common/bounded-body.ts";
import { sleep } from "../common/sleep.ts";

/**
 * Most bytes read from one RunPod answer. RunPod is operator-trusted, but a status reply carries
 * worker output (RunPod caps it at 20 MB, base64 grows it by a third): a broken proxy or worker
 * streaming without end must not take the gateway's memory.
 */
export const MAX_RUNPOD_RESPONSE_BYTES = 64 * 1024 * 1024;

export type HttpMethod = "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE";

export interface RunpodErrorInit {
  status: number | null;
  detail: string;
  retryable: boolean;
  title?: string;
  errors?: string[];
  body?: unknown;
  retryAfterMs?: number;
  attempts?: number;
  cause?: unknown;
}

export class RunpodError extends Error {
  /** HTTP status, or null when no response arrived (timeout, connection error). */
  readonly status: number | null;
  readonly detail: string;
  /** Whether trying again later may succeed. */
  readonly retryable: boolean;
  readonly title?: string;
  readonly errors: string[];
  /** The parsed response body (problem+json, `{"error":…}` or text). */
  readonly body?: unknown;
  readonly retryAfterMs?: number;
  readonly attempts: number;

  constructor(message: string, init: RunpodErrorInit) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = new.target.name;
    this.status = init.status;
    this.detail = init.detail;
    this.retryable = init.retryable;
    this.title = init.title;
    this.errors = init.errors ?? [];
    this.body = init.body;
    this.retryAfterMs = init.retryAfterMs;
    this.attempts = init.attempts ?? 1;
  }
}

export class RunpodNotFound extends RunpodError {}
/** 409: the action is not allowed in the pod's current status. */
export class RunpodConflict extends RunpodError {}
export class RunpodRateLimited extends RunpodError {}
/** 5xx or connection failure, after any retries. */
export class RunpodUnavailable extends RunpodError {}
/** No response within the per-attempt timeout (after any retries). */
export class RunpodTimeout extends RunpodError {}
/** 401/403: missing, invalid or unauthorised API key. */
export class RunpodAuthError extends RunpodError {}
/** Other 4xx: the request itself is wrong (400, 413, 422…). */
export class RunpodBadRequest extends RunpodError {}

export interface RunpodHttpOptions {
  baseUrl: string;
  apiKey?: string;
  timeoutMs: number;
  maxRetries: number;
  /** First backoff step; doubles per attempt. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** A Retry-After longer than this is not waited for: the error is thrown at once. */
  maxRetryAfterMs?: number;
  fetch?: typeof fetch;
  random?: () => number;
  /** Most bytes read from one response (default MAX_RUNPOD_RESPONSE_BYTES). */
  maxResponseBytes?: number;
  /** Called before each retry (metrics, logs). Never receives the key. */
  onRetry?: (info: { attempt: number; delayMs: number; reason: string; path: string }) => void;
}

export interface RunpodRequest {
  method: HttpMethod;
  /** Path under the base URL, starting with `/`. */
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  /** Marks a non-idempotent request as safe to repeat after a timeout or 5xx. */
  retrySafe?: boolean;
  /** Overrides the per-attempt timeout (e.g. `/runsync` waits server-side). */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Error responses to return instead of throw (e.g. a FAILED `/runsync` job sent as 400). */
  accept?: (status: number, body: unknown) => boolean;
}

export interface RunpodResponse<T> {
  status: number;
  headers: Headers;
  body: T;
}

const IDEMPOTENT = new Set<HttpMethod>(["GET", "HEAD", "PUT", "DELETE"]);

type Failure =
  | { kind: "status"; response: Response; body: unknown; text: string }
  | { kind: "timeout" }
  | { kind: "network"; cause: unknown };

export class RunpodHttp {
  private readonly baseUrl: string;
  private readonly fetchImpl: typeof fetch;

  constructor(private readonly options: RunpodHttpOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  async request<T = unknown>(request: RunpodRequest): Promise<RunpodResponse<T>> {
    const { maxRetries } = this.options;
    const idempotent = IDEMPOTENT.has(request.method) || request.retrySafe === true;
    for (let attempt = 0;; attempt++) {
      const outcome = await this.attempt(request);
      if (!("kind" in outcome)) return outcome as RunpodResponse<T>;
      const canRetry = attempt < maxRetries;
      let delayMs: number | undefined;
      let reason = "";
      if (outcome.kind === "status") {
        const status = outcome.response.status;
        if (status === 429) {
          const hinted = retryAfterMs(outcome.response.headers);
          if (hinted !== undefined && hinted > (this.options.maxRetryAfterMs ?? 60_000)) {
            throw this.toError(request, outcome, attempt + 1);
          }
          delayMs = hinted ?? this.backoff(attempt);
          reason = "429";
        } else if (status >= 500 && idempotent) {
          delayMs = this.backoff(attempt);
          reason = String(status);
        }
      } else if (idempotent) {
        delayMs = this.backoff(attempt);
        reason = outcome.kind;
      }
      if (delayMs === undefined || !canRetry) throw this.toError(request, outcome, attempt + 1);
      this.options.onRetry?.({ attempt: attempt + 1, delayMs, reason, path: request.path });
      await sleep(delayMs, request.signal);
    }
  }

  private async attempt(request: RunpodRequest): Promise<RunpodResponse<unknown> | Failure> {
    const url = new URL(this.baseUrl + request.path);
    for (const [key, value] of Object.entries(request.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const headers: Record<string, string> = { accept: "application/json" };
    if (this.options.apiKey) headers.authorization = `Bearer ${this.options.apiKey}`;
    if (request.body !== undefined) headers["content-type"] = "application/json";
    const timeout = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      timeout.abort();
    }, request.timeoutMs ?? this.options.timeoutMs);
    const signal = request.signal
      ? AbortSignal.any([request.signal, timeout.signal])
      : timeout.signal;
    try {
      const response = await this.fetchImpl(url, {
        method: request.method,
        headers,
        body: request.body === undefined ? undefined : JSON.stringify(request.body),
        signal,
      });
      // The per-attempt timer above still runs while the body arrives.
      const text = await BoundedBody.of(response, {
        maxBytes: this.options.maxResponseBytes ?? MAX_RUNPOD_RESPONSE_BYTES,
      }, () => timeout.abort()).text();
      const body = parseBody(response, text);
      if (response.ok || request.accept?.(response.status, body)) {
        return { status: response.status, headers: response.headers, body };
      }
      return { kind: "status", response, body, text };
    } catch (error) {
      if (request.signal?.aborted) throw request.signal.reason ?? error;
      if (timedOut) return { kind: "timeout" };
      return { kind: "network", cause: error };
    } finally {
      clearTimeout(timer);
    }
  }

  private backoff(attempt: number): number {
    const base = this.options.baseDelayMs ?? 250;
    const capped = Math.min(this.options.maxDelayMs ?? 8_000, base * 2 ** attempt);
    // "Equal jitter": half fixed, half random, so concurrent clients spread out.
    return Math.round(capped / 2 + (this.options.random ?? Math.random)() * (capped / 2));
  }

  private scrub(text: string): string {
    const key = this.options.apiKey;
    return key ? text.split(key).join("[redacted]") : text;
  }

  private scrubBody(body: unknown): unknown {
    if (body === undefined || !this.options.apiKey) return body;
    if (typeof body === "string") return this.scrub(body);
    return JSON.parse(this.scrub(JSON.stringify(body)));
  }

  private toError(request: RunpodRequest, failure: Failure, attempts: number): RunpodError {
    const where = `RunPod ${request.method} ${request.path}`;
    const suffix = attempts > 1 ? ` (after ${attempts} attempts)` : "";
    const idempotent = IDEMPOTENT.has(request.method) || request.retrySafe === true;
    if (failure.kind === "timeout") {
      const timeoutMs = request.timeoutMs ?? this.options.timeoutMs;
      const detail = idempotent
        ? `no response within ${timeoutMs} ms`
        : `no response within ${timeoutMs} ms; the request may or may not have been carried out`;
      return new RunpodTimeout(`${where}: ${detail}${suffix}`, {
        status: null,
        detail,
        retryable: true,
        attempts,
      });
    }
    if (failure.kind === "network") {
      const detail = this.scrub(describeNetworkError(failure.cause));
      return new RunpodUnavailable(`${where}: connection failed: ${detail}${suffix}`, {
        status: null,
        detail,
        retryable: true,
        attempts,
      });
    }
    const { response, body, text } = failure;
    const status = response.status;
    const problem = (body && typeof body === "object" ? body : {}) as Record<string, any>;
    const detail = this.scrub(
      String(
        problem.detail ??
          (typeof problem.error === "string" ? problem.error : problem.error?.message) ??
          problem.message ??
          (text.trim().slice(0, 300) || response.statusText || `HTTP ${status}`),
      ),
    );
    const title = typeof problem.title === "string" ? problem.title : undefined;
    const errors = Array.isArray(problem.errors)
      ? problem.errors.map((e: unknown) => this.scrub(String(e)))
      : [];
    const init: RunpodErrorInit = {
      status,
      detail,
      title,
      errors,
      body: this.scrubBody(body),
      retryable: false,
      attempts,
      retryAfterMs: retryAfterMs(response.headers),
    };
    const message = `${where}: ${status} ${detail}${
      errors.length ? ` (${errors.join("; ")})` : ""
    }${suffix}`;
    if (status === 401 || status === 403) return new RunpodAuthError(message, init);
    if (status === 404) return new RunpodNotFound(message, init);
    if (status === 409) return new RunpodConflict(message, init);
    if (status === 429) return new RunpodRateLimited(message, { ...init, retryable: true });
    if (status >= 500) return new RunpodUnavailable(message, { ...init, retryable: true });
    return new RunpodBadRequest(message, init);
  }
}

function parseBody(response: Response, text: string): unknown {
  if (text === "") return undefined;
  const type = response.headers.get("content-type") ?? "";
  if (type.includes("json")) {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return text;
}

/** Retry-After (seconds or HTTP date), else the largest `t` of a RateLimit item with `r=0`. */
export function retryAfterMs(headers: Headers): number | undefined {
  const retryAfter = headers.get("retry-after");
  if (retryAfter !== null && retryAfter.trim() !== "") {
    const seconds = Number(retryAfter);
    if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
    const date = Date.parse(retryAfter);
    if (!Number.isNaN(date)) return Math.max(0, date - Date.now());
  }
  const rateLimit = headers.get("ratelimit");
  if (rateLimit) {
    let wait: number | undefined;
    for (const item of rateLimit.split(",")) {
      const remaining = /;\s*r=(\d+)/.exec(item);
      const reset = /;\s*t=(\d+)/.exec(item);
      if (remaining && reset && Number(remaining[1]) === 0) {
        wait = Math.max(wait ?? 0, Number(reset[1]) * 1000);
      }
    }
    return wait;
  }
  return undefined;
}

function describeNetworkError(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } })?.cause;
  return cause?.code ?? cause?.message ?? (error as Error)?.message ?? "network error";
}
