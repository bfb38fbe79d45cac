import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { SimContext } from "./context.ts";
import type { EndpointConfig } from "./knobs.ts";
import { BadJson, bearerToken, PayloadTooLarge, readJson, sendJson, sleep } from "./http-util.ts";
import { embeddingList } from "./embeddings.ts";
import { chatCompletion, textCompletion } from "./text-gen.ts";
import { runWorker } from "./workers.ts";

/**
 * Serverless queue API (runpod-api.md 1) and the vLLM OpenAI route (2). Jobs are evaluated
 * lazily: each job stores when it starts and ends on the simulator clock, so `advanceTime`
 * moves queues, executions and retention without waiting.
 */

export type SimJobStatus =
  | "IN_QUEUE"
  | "IN_PROGRESS"
  | "COMPLETED"
  | "FAILED"
  | "CANCELLED"
  | "TIMED_OUT";

const TERMINAL = new Set<SimJobStatus>(["COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"]);

export interface SimJob {
  id: string;
  endpointId: string;
  kind: "run" | "runsync";
  input: unknown;
  submittedAt: number;
  startAt: number;
  endAt: number;
  /** The outcome once endAt passes (before the worker's own validation). */
  outcome: "COMPLETED" | "FAILED" | "TIMED_OUT";
  error?: string;
  cancelledAt?: number;
  retries: number;
  workerId: string;
  ttlMs: number;
  result?: { output?: unknown; error?: string };
  counted?: boolean;
}

interface EndpointState {
  /** When the (most recent) worker finished booting. */
  readyAt: number;
  /** Until when a worker is up (booting, running, or idle within idleTimeout). */
  warmUntil: number;
  workerId: string;
  stats: { completed: number; failed: number; retried: number };
}

export class ServerlessStore {
  readonly jobs = new Map<string, SimJob>();
  private readonly state = new Map<string, EndpointState>();

  constructor(private readonly ctx: SimContext) {}

  endpointState(endpointId: string): EndpointState {
    let state = this.state.get(endpointId);
    if (!state) {
      state = {
        readyAt: 0,
        warmUntil: -1,
        workerId: randomUUID().replaceAll("-", "").slice(0, 14),
        stats: { completed: 0, failed: 0, retried: 0 },
      };
      this.state.set(endpointId, state);
    }
    return state;
  }

  /** Reserves a worker: returns when execution can start (after a cold start if none is warm). */
  schedule(endpoint: EndpointConfig, executionMs: number): number {
    const now = this.ctx.now();
    const state = this.endpointState(endpoint.id);
    let start: number;
    if (now <= state.warmUntil) start = Math.max(now, state.readyAt);
    else {
      state.readyAt = now + (endpoint.coldStartMs ?? this.ctx.knobs.coldStartMs);
      state.workerId = randomUUID().replaceAll("-", "").slice(0, 14);
      start = state.readyAt;
    }
    state.warmUntil = Math.max(state.warmUntil, start + executionMs + this.ctx.knobs.idleTimeoutMs);
    return start;
  }

  /** Drops the worker's warmth (e.g. to force the next request into a cold start). */
  coolDown(endpointId: string): void {
    const state = this.endpointState(endpointId);
    state.warmUntil = -1;
    state.readyAt = 0;
  }

  submit(endpoint: EndpointConfig, kind: "run" | "runsync", body: any, id?: string): SimJob {
    const { knobs } = this.ctx;
    const executionMs = endpoint.executionMs ?? knobs.executionMs;
    const timeoutMs = body.policy?.executionTimeout ?? endpoint.executionTimeoutMs ??
      knobs.executionTimeoutMs;
    const now = this.ctx.now();
    const startAt = this.schedule(endpoint, Math.min(executionMs, timeoutMs));
    const job: SimJob = {
      id: id ?? (kind === "runsync" ? `sync-${randomUUID()}-u1` : `${randomUUID()}-u1`),
      endpointId: endpoint.id,
      kind,
      input: body.input,
      submittedAt: now,
      startAt,
      endAt: startAt + executionMs,
      outcome: "COMPLETED",
      retries: 0,
      workerId: this.endpointState(endpoint.id).workerId,
      ttlMs: body.policy?.ttl ?? 24 * 3600_000,
    };
    if (executionMs > timeoutMs) {
      job.outcome = "TIMED_OUT";
      job.endAt = startAt + timeoutMs;
      job.error = `job timed out after ${Math.round(timeoutMs / 1000)}s`;
    } else if (knobs.failNextJobs > 0) {
      knobs.failNextJobs--;
      job.outcome = "FAILED";
      job.error = "simulated worker failure";
    } else if (knobs.failureRate > 0 && this.ctx.random() < knobs.failureRate) {
      job.outcome = "FAILED";
      job.error = "simulated worker failure";
    }
    this.jobs.set(job.id, job);
    return job;
  }

  statusOf(job: SimJob): SimJobStatus {
    const now = this.ctx.now();
    if (job.cancelledAt !== undefined) return "CANCELLED";
    if (now < job.startAt) return "IN_QUEUE";
    if (now < job.endAt) return "IN_PROGRESS";
    if (job.outcome === "COMPLETED") return this.resultOf(job).error ? "FAILED" : "COMPLETED";
    return job.outcome;
  }

  private resultOf(job: SimJob): { output?: unknown; error?: string } {
    if (!job.result) {
      const endpoint = this.ctx.endpoints.get(job.endpointId)!;
      const result = runWorker(this.ctx, endpoint, job.id, job.input);
      job.result = "error" in result ? { error: result.error, output: result.output } : result;
    }
    return job.result;
  }

  /** The job if it still exists: TTL and result retention delete it (then /status is 404). */
  get(id: string): SimJob | undefined {
    const job = this.jobs.get(id);
    if (!job) return undefined;
    const now = this.ctx.now();
    const status = this.statusOf(job);
    const finishedAt = job.cancelledAt ?? job.endAt;
    const retention = job.kind === "runsync"
      ? this.ctx.knobs.runsyncRetentionMs
      : this.ctx.knobs.runRetentionMs;
    if (
      now >= job.submittedAt + job.ttlMs || (TERMINAL.has(status) && now >= finishedAt + retention)
    ) {
      this.count(job, status);
      this.jobs.delete(id);
      return undefined;
    }
    return job;
  }

  private count(job: SimJob, status: SimJobStatus): void {
    if (job.counted || !TERMINAL.has(status)) return;
    job.counted = true;
    const stats = this.endpointState(job.endpointId).stats;
    if (status === "COMPLETED") stats.completed++;
    else if (status === "FAILED" || status === "TIMED_OUT") stats.failed++;
  }

  view(job: SimJob): Record<string, unknown> {
    const status = this.statusOf(job);
    const now = this.ctx.now();
    const view: Record<string, unknown> = { id: job.id, status };
    if (status === "IN_QUEUE") return view;
    view.delayTime = Math.max(0, job.startAt - job.submittedAt);
    view.workerId = job.workerId;
    view.retries = job.retries;
    if (status === "IN_PROGRESS") return view;
    if (status === "CANCELLED") {
      view.executionTime = Math.max(0, (job.cancelledAt ?? now) - job.startAt);
      return view;
    }
    view.executionTime = job.endAt - job.startAt;
    if (status === "COMPLETED") view.output = this.resultOf(job).output;
    else if (job.outcome === "COMPLETED") {
      const result = this.resultOf(job);
      view.error = result.error;
      if (result.output !== undefined) view.output = result.output;
    } else view.error = job.error;
    return view;
  }

  isTerminal(job: SimJob): boolean {
    return TERMINAL.has(this.statusOf(job));
  }

  health(endpointId: string) {
    const now = this.ctx.now();
    const state = this.endpointState(endpointId);
    let inQueue = 0, inProgress = 0;
    for (const id of [...this.jobs.keys()]) {
      const job = this.get(id);
      if (!job || job.endpointId !== endpointId) continue;
      const status = this.statusOf(job);
      if (status === "IN_QUEUE") inQueue++;
      else if (status === "IN_PROGRESS") inProgress++;
      else this.count(job, status);
    }
    const booting = now < state.readyAt && now <= state.warmUntil;
    const warm = !booting && now <= state.warmUntil;
    return {
      jobs: { ...state.stats, inProgress, inQueue },
      workers: {
        idle: warm && inProgress === 0 ? 1 : 0,
        running: inProgress > 0 ? 1 : 0,
        initializing: booting ? 1 : 0,
        ready: warm && inProgress === 0 ? 1 : 0,
        throttled: 0,
      },
    };
  }

  cancel(job: SimJob): void {
    if (!this.isTerminal(job)) job.cancelledAt = this.ctx.now();
  }

  retry(job: SimJob): boolean {
    const status = this.statusOf(job);
    if (status !== "FAILED" && status !== "TIMED_OUT") return false;
    const endpoint = this.ctx.endpoints.get(job.endpointId)!;
    const fresh = this.submit(endpoint, job.kind, { input: job.input }, job.id);
    fresh.retries = job.retries + 1;
    // The TTL clock keeps running from the original submission.
    fresh.ttlMs = job.ttlMs - (fresh.submittedAt - job.submittedAt);
    this.endpointState(job.endpointId).stats.retried++;
    return true;
  }

  purgeQueue(endpointId: string): number {
    let removed = 0;
    for (const job of [...this.jobs.values()]) {
      if (job.endpointId === endpointId && this.statusOf(job) === "IN_QUEUE") {
        this.jobs.delete(job.id);
        removed++;
      }
    }
    return removed;
  }
}

function vllmError(res: ServerResponse, status: number, message: string, param: string | null) {
  const type = status === 404
    ? "NotFoundError"
    : status === 400
    ? "BadRequestError"
    : "InternalServerError";
  sendJson(res, status, { error: { message, type, param, code: status } });
}

export function createServerlessHandler(ctx: SimContext, store: ServerlessStore) {
  return async (req: IncomingMessage, res: ServerResponse, path: string): Promise<void> => {
    if (ctx.apiKey !== undefined && bearerToken(req) !== ctx.apiKey) {
      return sendJson(res, 401, { error: "Unauthorized: invalid or missing API key" });
    }
    const method = req.method ?? "GET";
    const url = new URL(req.url ?? "/", "http://sim");
    const segments = path.split("/").filter(Boolean);
    const endpoint = ctx.endpoints.get(segments[0] ?? "");
    if (!endpoint) return sendJson(res, 404, { error: "endpoint not found" });
    const op = segments[1];
    const jobId = segments[2];
    try {
      if (op === "run" && method === "POST") {
        const body = await readJson(req, ctx.knobs.runPayloadLimitBytes);
        if (!body || typeof body !== "object" || body.input === undefined) {
          return sendJson(res, 400, { error: "input is required" });
        }
        const job = store.submit(endpoint, "run", body);
        return sendJson(res, 200, { id: job.id, status: "IN_QUEUE" });
      }
      if (op === "runsync" && method === "POST") {
        const body = await readJson(req, ctx.knobs.runsyncPayloadLimitBytes);
        if (!body || typeof body !== "object" || body.input === undefined) {
          return sendJson(res, 400, { error: "input is required" });
        }
        const requested = Number(url.searchParams.get("wait") ?? 90_000);
        const waitMs = Math.min(
          300_000,
          Math.max(1000, Number.isFinite(requested) ? requested : 90_000),
        );
        const job = store.submit(endpoint, "runsync", body);
        const deadline = Date.now() + waitMs;
        let gone = false;
        res.on("close", () => (gone = true));
        while (!store.isTerminal(job) && Date.now() < deadline && !gone) {
          await sleep(Math.min(5, deadline - Date.now()));
        }
        if (gone) return;
        if (!store.isTerminal(job)) {
          return sendJson(res, 200, { id: job.id, status: store.statusOf(job) });
        }
        return sendJson(res, 200, store.view(job));
      }
      if (
        (op === "status" || op === "status-sync") && (method === "GET" || method === "POST") &&
        jobId
      ) {
        let job = store.get(jobId);
        if (job && op === "status-sync") {
          const deadline = Date.now() +
            Math.min(300_000, Number(url.searchParams.get("wait") ?? 90_000));
          while (job && !store.isTerminal(job) && Date.now() < deadline) {
            await sleep(5);
            job = store.get(jobId);
          }
        }
        if (!job) return sendJson(res, 404, { error: "request does not exist" });
        return sendJson(res, 200, store.view(job));
      }
      if (op === "cancel" && method === "POST" && jobId) {
        const job = store.get(jobId);
        if (!job) return sendJson(res, 404, { error: "request does not exist" });
        store.cancel(job);
        return sendJson(res, 200, { id: job.id, status: store.statusOf(job) });
      }
      if (op === "retry" && method === "POST" && jobId) {
        const job = store.get(jobId);
        if (!job) return sendJson(res, 404, { error: "request does not exist" });
        if (!store.retry(job)) {
          return sendJson(res, 400, {
            error: `job ${job.id} is ${
              store.statusOf(job)
            }; only FAILED or TIMED_OUT jobs can be retried`,
          });
        }
        return sendJson(res, 200, { id: job.id, status: "IN_QUEUE" });
      }
      if (op === "health" && method === "GET") return sendJson(res, 200, store.health(endpoint.id));
      if (op === "purge-queue" && method === "POST") {
        return sendJson(res, 200, { removed: store.purgeQueue(endpoint.id), status: "completed" });
      }
      if (op === "openai" && segments[2] === "v1") {
        return openAiRoute(ctx, store, endpoint, req, res, segments.slice(3).join("/"), method);
      }
      return sendJson(res, 404, { error: "not found" });
    } catch (error) {
      if (error instanceof PayloadTooLarge) {
        return sendJson(res, 413, { error: `payload too large: ${error.message}` });
      }
      if (error instanceof BadJson) return sendJson(res, 400, { error: error.message });
      throw error;
    }
  };
}

async function openAiRoute(
  ctx: SimContext,
  store: ServerlessStore,
  endpoint: EndpointConfig,
  req: IncomingMessage,
  res: ServerResponse,
  route: string,
  method: string,
): Promise<void> {
  if (endpoint.worker !== "vllm" && endpoint.worker !== "infinity-embedding") {
    return vllmError(res, 404, `endpoint ${endpoint.id} has no OpenAI-compatible route`, null);
  }
  const served = endpoint.servedModelName ?? endpoint.id;
  if (route === "models" && method === "GET") {
    return sendJson(res, 200, {
      object: "list",
      data: [{
        id: served,
        object: "model",
        created: Math.floor(Date.now() / 1000),
        owned_by: "vllm",
        root: served,
        parent: null,
        max_model_len: 32768,
        permission: [],
      }],
    });
  }
  // The embeddings worker serves embeddings only; worker-vllm (a generative model) all but them.
  const routes = endpoint.worker === "vllm" ? ["chat/completions", "completions"] : ["embeddings"];
  if (method !== "POST" || !routes.includes(route)) {
    return vllmError(res, 404, `route /v1/${route} not found`, null);
  }
  let body: any;
  try {
    body = await readJson(req, ctx.knobs.runsyncPayloadLimitBytes);
  } catch (error) {
    if (error instanceof BadJson) return vllmError(res, 400, error.message, null);
    throw error;
  }
  if (!body || typeof body !== "object" || Array.isArray(body)) {
    return vllmError(res, 400, "request body must be an object", null);
  }
  const model = body.model ?? served;
  if (model !== served) {
    return vllmError(res, 404, `The model \`${model}\` does not exist.`, "model");
  }
  if (route === "embeddings") {
    const startAt = store.schedule(endpoint, endpoint.executionMs ?? ctx.knobs.executionMs);
    const waitMs = startAt - ctx.now();
    if (waitMs > 0) await sleep(waitMs);
    if (res.destroyed) return;
    const made = embeddingList(body, model, ctx.knobs.embeddingDimensions);
    if ("error" in made) return vllmError(res, 400, made.error, made.param);
    return sendJson(res, 200, made.list);
  }
  if (body.stream_options != null && !body.stream) {
    return vllmError(
      res,
      400,
      "Stream options can only be defined when `stream=True`.",
      "stream_options",
    );
  }
  if (route === "chat/completions") {
    if (!Array.isArray(body.messages) || body.messages.length === 0) {
      return vllmError(res, 400, "messages must be a non-empty list", "messages");
    }
    if (Array.isArray(body.tools) && body.tools.length === 0) {
      return vllmError(res, 400, "tools must not be an empty list", "tools");
    }
    if (body.tool_choice != null && body.tools == null) {
      return vllmError(res, 400, "When using `tool_choice`, `tools` must be set.", "tool_choice");
    }
    if (body.top_logprobs != null && !body.logprobs) {
      return vllmError(
        res,
        400,
        "when using `top_logprobs`, `logprobs` must be set to true.",
        "top_logprobs",
      );
    }
  } else if (typeof body.prompt !== "string" && !Array.isArray(body.prompt)) {
    return vllmError(res, 400, "prompt is required", "prompt");
  }
  // The platform queues the request like a job: a cold worker delays the first byte.
  const startAt = store.schedule(endpoint, endpoint.executionMs ?? ctx.knobs.executionMs);
  const waitMs = startAt - ctx.now();
  if (waitMs > 0) await sleep(waitMs);
  if (res.destroyed) return;
  const generation = {
    flavour: "vllm" as const,
    model,
    tokensPerSecond: ctx.knobs.tokensPerSecond,
  };
  if (route === "chat/completions") return chatCompletion(res, body, generation);
  return textCompletion(res, body, generation);
}
