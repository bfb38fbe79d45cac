import { sleep } from "../common/sleep.ts";
import type { RunpodConfig } from "./runpod.config.ts";
import { RunpodHttp, type RunpodHttpOptions } from "./runpod-http.ts";

/** RunPod Serverless queue API (runpod-api.md 1) and the OpenAI route's base URL (2). */

/** `RUNNING` appears in RunPod's docs as a synonym of IN_PROGRESS. */
export type JobStatus =
  | "IN_QUEUE"
  | "IN_PROGRESS"
  | "RUNNING"
  | "COMPLETED"
  | "FAILED"
  | "CANCELLED"
  | "TIMED_OUT";

const TERMINAL: ReadonlySet<string> = new Set(["COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"]);

export function isTerminal(status: JobStatus | string): boolean {
  return TERMINAL.has(status);
}

export interface ServerlessJob<Output = unknown> {
  id: string;
  status: JobStatus;
  /** Queue time, ms. */
  delayTime?: number;
  /** Execution time, ms. */
  executionTime?: number;
  output?: Output;
  /** Present when FAILED: a string (sometimes JSON with error_type/error_message). */
  error?: string;
  workerId?: string;
  retries?: number;
}

export interface JobPolicy {
  /** ms, default 600000 on RunPod. */
  executionTimeout?: number;
  lowPriority?: boolean;
  /** ms, default 24 h on RunPod. */
  ttl?: number;
}

export interface SubmitOptions {
  policy?: JobPolicy;
  webhook?: string;
  signal?: AbortSignal;
}

export interface EndpointHealth {
  jobs: { completed: number; failed: number; inProgress: number; inQueue: number; retried: number };
  workers: {
    idle: number;
    running: number;
    initializing?: number;
    ready?: number;
    throttled?: number;
  };
}

/** RunPod clamps `?wait=` to 1000–300000 ms; 90000 is its default. */
export const RUNSYNC_MIN_WAIT_MS = 1_000;
export const RUNSYNC_MAX_WAIT_MS = 300_000;
export const RUNSYNC_DEFAULT_WAIT_MS = 90_000;

export class ServerlessClient {
  private readonly http: RunpodHttp;
  private readonly apiUrl: string;

  constructor(private readonly config: RunpodConfig, options: Partial<RunpodHttpOptions> = {}) {
    this.apiUrl = config.apiUrl.replace(/\/+$/, "");
    this.http = new RunpodHttp({
      baseUrl: this.apiUrl,
      apiKey: config.apiKey,
      timeoutMs: config.requestTimeoutMs,
      maxRetries: config.maxRetries,
      ...options,
    });
  }

  /**
   * Queues a job. Not retried after a timeout or 5xx (only after 429): the job may be queued
   * already and would run, and be paid for, twice.
   */
  async run(
    endpointId: string,
    input: unknown,
    policyOrOptions: JobPolicy | SubmitOptions = {},
  ): Promise<ServerlessJob> {
    const options = toSubmitOptions(policyOrOptions);
    const { body } = await this.http.request<ServerlessJob>({
      method: "POST",
      path: `${endpointPath(endpointId)}/run`,
      body: submitBody(input, options),
      signal: options.signal,
    });
    return body;
  }

  /**
   * Runs a job and waits up to `waitMs` server-side. The result is terminal (COMPLETED, FAILED…)
   * or, when the wait ran out (a cold start uses it up), `{id, status: IN_QUEUE|IN_PROGRESS}`
   * to poll with `status()`. A FAILED job is returned, not thrown, whether RunPod sends it
   * with 200 or 400.
   */
  async runSync(
    endpointId: string,
    input: unknown,
    options: SubmitOptions & { waitMs?: number } = {},
  ): Promise<ServerlessJob> {
    const waitMs = Math.min(
      RUNSYNC_MAX_WAIT_MS,
      Math.max(RUNSYNC_MIN_WAIT_MS, options.waitMs ?? RUNSYNC_DEFAULT_WAIT_MS),
    );
    const { body } = await this.http.request<ServerlessJob>({
      method: "POST",
      path: `${endpointPath(endpointId)}/runsync`,
      query: { wait: waitMs },
      body: submitBody(input, options),
      // The server holds the request for up to waitMs; the timeout covers the rest.
      timeoutMs: waitMs + this.config.requestTimeoutMs,
      accept: (status, body) => status === 400 && isFailedJob(body),
      signal: options.signal,
    });
    return body;
  }

  async status(endpointId: string, jobId: string, signal?: AbortSignal): Promise<ServerlessJob> {
    const { body } = await this.http.request<ServerlessJob>({
      method: "GET",
      path: `${endpointPath(endpointId)}/status/${encodeURIComponent(jobId)}`,
      signal,
    });
    return body;
  }

  /** Cancelling twice is harmless, so the request is retry-safe. */
  async cancel(endpointId: string, jobId: string, signal?: AbortSignal): Promise<ServerlessJob> {
    const { body } = await this.http.request<ServerlessJob>({
      method: "POST",
      path: `${endpointPath(endpointId)}/cancel/${encodeURIComponent(jobId)}`,
      retrySafe: true,
      signal,
    });
    return body;
  }

  /** Re-queues a FAILED or TIMED_OUT job under the same id. */
  async retry(endpointId: string, jobId: string, signal?: AbortSignal): Promise<ServerlessJob> {
    const { body } = await this.http.request<ServerlessJob>({
      method: "POST",
      path: `${endpointPath(endpointId)}/retry/${encodeURIComponent(jobId)}`,
      signal,
    });
    return body;
  }

  async health(endpointId: string, signal?: AbortSignal): Promise<EndpointHealth> {
    const { body } = await this.http.request<EndpointHealth>({
      method: "GET",
      path: `${endpointPath(endpointId)}/health`,
      signal,
    });
    return body;
  }

  /** Removes queued (not running) jobs. */
  async purgeQueue(endpointId: string, signal?: AbortSignal): Promise<{ removed: number }> {
    const { body } = await this.http.request<{ removed: number; status: string }>({
      method: "POST",
      path: `${endpointPath(endpointId)}/purge-queue`,
      retrySafe: true,
      signal,
    });
    return body;
  }

  /** Polls `/status` until the job is terminal or `timeoutMs` passes (then returns it as is). */
  async waitForJob(
    endpointId: string,
    jobId: string,
    options: { pollMs?: number; timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<ServerlessJob> {
    const deadline = Date.now() + (options.timeoutMs ?? 600_000);
    for (;;) {
      const job = await this.status(endpointId, jobId, options.signal);
      if (isTerminal(job.status) || Date.now() >= deadline) return job;
      await sleep(options.pollMs ?? 1_000, options.signal);
    }
  }

  /** Base URL for the official `openai` SDK against a vLLM endpoint. */
  openAiBaseUrl(endpointId: string): string {
    return `${this.apiUrl}${endpointPath(endpointId)}/openai/v1`;
  }
}

function isFailedJob(body: unknown): boolean {
  const job = body as Partial<ServerlessJob> | undefined;
  return typeof job?.id === "string" && job.status === "FAILED";
}

function endpointPath(endpointId: string): string {
  return `/${encodeURIComponent(endpointId)}`;
}

function toSubmitOptions(value: JobPolicy | SubmitOptions): SubmitOptions {
  const keys = Object.keys(value);
  const isOptions = keys.some((k) => k === "policy" || k === "webhook" || k === "signal");
  return isOptions ? value as SubmitOptions : { policy: value as JobPolicy };
}

function submitBody(input: unknown, options: SubmitOptions): Record<string, unknown> {
  const body: Record<string, unknown> = { input };
  if (options.policy && Object.keys(options.policy).length) body.policy = options.policy;
  if (options.webhook) body.webhook = options.webhook;
  return body;
}
