import { Inject, Injectable } from "@nestjs/common";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { ServerResponse } from "node:http";
import { PassThrough } from "node:stream";
import { ApiError } from "../common/api-error.ts";
import { CLOCK, type Clock } from "../common/clock.ts";
import { newId } from "../common/ids.ts";
import { logger } from "../common/json-logger.ts";
import { PendingSettlements } from "./pending-settlements.ts";
import type { Principal } from "../auth/principal.ts";
import { INFERENCE_CHARGE_KIND } from "../billing/inference-charges.projection.ts";
import { LedgerService } from "../billing/ledger.service.ts";
import type { InferenceEndpoint, InferenceUsage } from "./inference.events.ts";
import { ModelRouter, type Purpose, type Route } from "./model-router.ts";
import { estimateTokens, prepareUpstreamBody } from "./request-normaliser.ts";
import {
  chatCompletionToOutput,
  newResponseId,
  responseObject,
  ResponsesStreamWriter,
  responsesToChatBody,
} from "./responses.adapter.ts";
import { encodeEmbedding } from "./embeddings-encoding.ts";
import { ChatStreamNormaliser } from "./streaming/chat-stream.normaliser.ts";
import { SseFrameTooLarge, SseParser } from "./streaming/sse-parser.ts";
import {
  openAiChunkFormat,
  responsesFormat,
  type StreamFormat,
} from "./streaming/stream-formats.ts";
import {
  ClientAborted,
  type OpenedUpstream,
  readUpstreamText,
  UpstreamClient,
} from "./upstream/upstream-client.ts";
import { upstreamInvalidResponse } from "./upstream/upstream-errors.ts";
import { BodyLimitExceeded } from "../common/bounded-body.ts";
import { watchesOwnStalls } from "../common/connection-limits.ts";
import { UsageRecorder } from "./usage-recorder.ts";
import { validateChatRequest } from "./validation/chat.validation.ts";
import { validateCompletionRequest } from "./validation/completions.validation.ts";
import { validateEmbeddingRequest } from "./validation/embeddings.validation.ts";
import { validateResponsesRequest } from "./validation/responses.validation.ts";
import type { Body } from "../common/body-fields.ts";
import { checkServingLimits, type UpstreamCall } from "./validation/serving-limits.ts";
import { AccountConcurrency } from "./account-concurrency.ts";
import { APP_CONFIG, type AppConfig } from "../config/config.ts";

export interface InferenceContext {
  principal: Principal;
  request: FastifyRequest;
  reply: FastifyReply;
}

interface JsonOutcome {
  body: unknown;
  usage: InferenceUsage;
  finishReason: string | null;
}

/** One OpenAI-compatible call, described so one pipeline runs them all. */
interface CallSpec {
  endpoint: InferenceEndpoint;
  purpose: Purpose;
  model: string;
  path: string;
  stream: boolean;
  includeUsage: boolean;
  /** Refusals that depend on the route (e.g. Ollama has no `n`). */
  check?(route: Route): void;
  upstreamBody(route: Route): Body;
  estimatePromptTokens(): number;
  /** Non-stream: the upstream JSON into the client's body. */
  shape?(data: any, route: Route, responseTimeMs: number): JsonOutcome;
  /** Streams: chunk object and client format. */
  streamObject?: "chat.completion.chunk" | "text_completion";
  streamFormat?(): StreamFormat;
}

const KEEP_ALIVE_MS = 15_000;

/** Which shared-endpoint call each purpose makes (responses go through chat completions). */
const SERVING_CALL: Record<Purpose, UpstreamCall> = {
  chat: "chat",
  responses: "chat",
  completions: "completions",
  embeddings: "embeddings",
};

/**
 * The gateway pipeline: validate → route → reserve (serverless catalogue models) → call the
 * upstream → shape or relay → settle/release → record one InferenceCompleted/InferenceFailed.
 * The event and the settlement are submitted without making the client wait for them.
 */
@Injectable()
export class InferenceService {
  private readonly concurrency: AccountConcurrency;

  constructor(
    @Inject(ModelRouter) private readonly router: ModelRouter,
    @Inject(UpstreamClient) private readonly upstream: UpstreamClient,
    @Inject(UsageRecorder) private readonly recorder: UsageRecorder,
    @Inject(LedgerService) private readonly ledger: LedgerService,
    @Inject(PendingSettlements) private readonly settlements: PendingSettlements,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.concurrency = new AccountConcurrency(config.maxConcurrentRequestsPerAccount);
  }

  chat(context: InferenceContext): Promise<void> {
    const chat = validateChatRequest(context.request.body);
    return this.execute(context, {
      endpoint: "chat.completions",
      purpose: "chat",
      model: chat.model,
      path: "/chat/completions",
      stream: chat.stream,
      includeUsage: chat.includeUsage,
      check(route) {
        if (route.flavour === "ollama" && chat.n > 1) {
          throw ApiError.badRequest(
            "This deployment (Ollama) supports only n = 1.",
            "n",
            "unsupported_value",
          );
        }
      },
      upstreamBody: (route) => prepareUpstreamBody(chat.body, route, chat.stream),
      estimatePromptTokens: () => estimateTokens(chat.body.messages),
      shape: (data, route, responseTimeMs) => {
        const usage = usageOf(
          data.usage,
          () => estimateTokens(chat.body.messages),
          () => estimateTokens((data.choices ?? []).map((choice: any) => choice?.message ?? {})),
        );
        data.model = chat.model;
        data.system_fingerprint = fingerprint(route);
        if (!data.usage) data.usage = openAiUsage(usage);
        data.x_modelpilot = {
          deployment_id: route.deploymentId,
          model_identifier: route.modelIdentifier,
          response_time_ms: Math.round(responseTimeMs),
          direct_endpoint: route.directEndpoint,
        };
        return { body: data, usage, finishReason: data.choices?.[0]?.finish_reason ?? null };
      },
      streamObject: "chat.completion.chunk",
      streamFormat: () => openAiChunkFormat,
    });
  }

  completions(context: InferenceContext): Promise<void> {
    const completion = validateCompletionRequest(context.request.body);
    return this.execute(context, {
      endpoint: "completions",
      purpose: "completions",
      model: completion.model,
      path: "/completions",
      stream: completion.stream,
      includeUsage: completion.includeUsage,
      upstreamBody: (route) => prepareUpstreamBody(completion.body, route, completion.stream),
      estimatePromptTokens: () => estimateTokens(completion.body.prompt),
      shape: (data, route) => {
        const usage = usageOf(
          data.usage,
          () => estimateTokens(completion.body.prompt),
          () => estimateTokens((data.choices ?? []).map((choice: any) => choice?.text ?? "")),
        );
        data.model = completion.model;
        data.object = "text_completion";
        data.system_fingerprint = fingerprint(route);
        if (!data.usage) data.usage = openAiUsage(usage);
        return { body: data, usage, finishReason: data.choices?.[0]?.finish_reason ?? null };
      },
      streamObject: "text_completion",
      streamFormat: () => openAiChunkFormat,
    });
  }

  embeddings(context: InferenceContext): Promise<void> {
    const embedding = validateEmbeddingRequest(context.request.body);
    return this.execute(context, {
      endpoint: "embeddings",
      purpose: "embeddings",
      model: embedding.model,
      path: "/embeddings",
      stream: false,
      includeUsage: false,
      upstreamBody: (route) => ({ ...embedding.body, model: route.upstreamModel }),
      estimatePromptTokens: () => estimateTokens(embedding.body.input),
      shape: (data) => {
        if (!Array.isArray(data.data)) {
          throw new ApiError(
            502,
            "The upstream model server sent an invalid embeddings response.",
            {
              type: "api_error",
              code: "upstream_bad_response",
            },
          );
        }
        for (const item of data.data) {
          item.embedding = encodeEmbedding(item.embedding, embedding.encoding);
        }
        data.model = embedding.model;
        const prompt = Number.isInteger(data.usage?.prompt_tokens)
          ? data.usage.prompt_tokens
          : undefined;
        const usage: InferenceUsage = prompt !== undefined
          ? {
            promptTokens: prompt,
            completionTokens: 0,
            totalTokens: prompt,
            usageEstimated: false,
          }
          : (() => {
            const estimate = estimateTokens(embedding.body.input);
            return {
              promptTokens: estimate,
              completionTokens: 0,
              totalTokens: estimate,
              usageEstimated: true,
            };
          })();
        data.usage ??= { prompt_tokens: usage.promptTokens, total_tokens: usage.totalTokens };
        return { body: data, usage, finishReason: null };
      },
    });
  }

  responses(context: InferenceContext): Promise<void> {
    const request = validateResponsesRequest(context.request.body);
    const chatBody: Body = { ...responsesToChatBody(request.body), stream: request.stream };
    const id = newResponseId();
    const createdAt = Math.floor(this.clock.now().getTime() / 1000);
    return this.execute(context, {
      endpoint: "responses",
      purpose: "responses",
      model: request.model,
      path: "/chat/completions",
      stream: request.stream,
      includeUsage: false,
      upstreamBody: (route) => prepareUpstreamBody(chatBody, route, request.stream),
      estimatePromptTokens: () => estimateTokens(chatBody.messages),
      shape: (data) => {
        const usage = usageOf(
          data.usage,
          () => estimateTokens(chatBody.messages),
          () => estimateTokens((data.choices ?? []).map((choice: any) => choice?.message ?? {})),
        );
        const finishReason = data.choices?.[0]?.finish_reason ?? null;
        const body = responseObject(
          request.body,
          id,
          createdAt,
          request.model,
          finishReason === "length" ? "incomplete" : "completed",
          chatCompletionToOutput(data),
          {
            input_tokens: usage.promptTokens,
            output_tokens: usage.completionTokens,
            total_tokens: usage.totalTokens,
          },
        );
        return { body, usage, finishReason };
      },
      streamObject: "chat.completion.chunk",
      streamFormat: () =>
        responsesFormat(new ResponsesStreamWriter(request.body, id, createdAt, request.model)),
    });
  }

  /** Upstream calls this account has in flight in this process (tests, diagnostics). */
  inFlight(accountId: string): number {
    return this.concurrency.count(accountId);
  }

  /**
   * Everything that can refuse a request is decided here, before anything is reserved or sent:
   * the route, the route's own checks, a shared endpoint's serving limits and the account's
   * concurrency slot. A refusal therefore appends nothing to the event store.
   */
  private async execute(context: InferenceContext, spec: CallSpec): Promise<void> {
    const accountId = context.principal.accountId;
    const route = this.router.resolve(accountId, spec.model, spec.purpose);
    spec.check?.(route);
    const upstreamBody = spec.upstreamBody(route);
    if (route.limits) {
      checkServingLimits(
        upstreamBody,
        SERVING_CALL[spec.purpose],
        route.limits,
        spec.model,
        spec.purpose === "responses",
      );
    }
    this.concurrency.acquire(accountId);
    try {
      // Resolves only once the upstream response is done with (streams: when the relay ends).
      await this.call(context, spec, route, JSON.stringify(upstreamBody));
    } finally {
      this.releaseWhenWritten(accountId, context.reply.raw);
    }
  }

  /**
   * The slot is held until the answer has reached the client (or its connection is gone): an
   * answer queued for a client that does not read still holds its memory, so it still counts.
   * The error envelope for a thrown error is written after this runs, and is covered too.
   */
  private releaseWhenWritten(accountId: string, response: ServerResponse): void {
    if (response.writableFinished || response.destroyed) {
      this.concurrency.release(accountId);
      return;
    }
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.concurrency.release(accountId);
    };
    response.once("finish", release);
    response.once("close", release);
  }

  private async call(
    context: InferenceContext,
    spec: CallSpec,
    route: Route,
    payload: string,
  ): Promise<void> {
    const { principal, request, reply } = context;
    const started = performance.now();
    const startedAt = this.clock.now().toISOString();
    const inferenceId = newId("inf", 20);
    const base = {
      inferenceId,
      requestId: String(request.id),
      accountId: principal.accountId,
      keyId: principal.keyId ?? null,
      endpoint: spec.endpoint,
      model: spec.model,
      upstreamModel: route.upstreamModel,
      routeKind: route.kind,
      deploymentId: route.deploymentId,
      stream: spec.stream,
      startedAt,
    };
    const billing = new RequestBilling(
      this.ledger,
      this.settlements,
      principal,
      route,
      inferenceId,
      spec.model,
      String(request.id),
    );
    // The client going away aborts the upstream call at once.
    const clientGone = new AbortController();
    const raw = reply.raw;
    // A client that left while the request was being authenticated is not served (nor billed).
    if (raw.destroyed || raw.socket?.destroyed) return;
    raw.once("close", () => {
      if (!raw.writableFinished) clientGone.abort();
    });
    await billing.reserve();

    const failed = (
      error: ApiError | ClientAborted,
      extra: Partial<InferenceUsage> & { midStream?: boolean; ttft?: number | null },
    ) => {
      billing.release(error instanceof ClientAborted ? "client_disconnected" : "upstream_failed");
      const status = error instanceof ApiError ? error.getStatus() : 499;
      this.recorder.record("InferenceFailed", {
        ...base,
        promptTokens: extra.promptTokens ?? 0,
        completionTokens: extra.completionTokens ?? 0,
        totalTokens: extra.totalTokens ?? 0,
        usageEstimated: extra.usageEstimated ?? false,
        latencyMs: round(performance.now() - started),
        timeToFirstTokenMs: extra.ttft ?? null,
        chargedMicros: 0,
        finishedAt: this.clock.now().toISOString(),
        status,
        errorCode: error instanceof ApiError ? error.code : "client_disconnected",
        errorMessage: error.message,
        midStream: extra.midStream ?? false,
      });
    };

    let opened: OpenedUpstream;
    try {
      opened = await this.upstream.open(route, "POST", spec.path, payload, clientGone.signal);
    } catch (error) {
      const known = error instanceof ApiError || error instanceof ClientAborted
        ? error
        : internalError(error);
      failed(known, {});
      if (known instanceof ClientAborted) return;
      throw known;
    }

    if (!spec.stream) {
      let outcome: JsonOutcome;
      try {
        // Through UPSTREAM_MAX_RESPONSE_BYTES and the idle/total timeouts: a 502 past them.
        const text = await readUpstreamText(opened);
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
        outcome = spec.shape!(data, route, performance.now() - started);
      } catch (error) {
        if (clientGone.signal.aborted) {
          failed(new ClientAborted("client disconnected"), {});
          return;
        }
        const known = error instanceof ApiError ? error : internalError(error);
        failed(known, {});
        throw known;
      }
      const latencyMs = round(performance.now() - started);
      const charged = billing.settle();
      reply.code(200).header("content-type", "application/json").send(JSON.stringify(outcome.body));
      this.recorder.record("InferenceCompleted", {
        ...base,
        ...outcome.usage,
        latencyMs,
        timeToFirstTokenMs: latencyMs,
        ...billing.completedFacts(charged),
        finishedAt: this.clock.now().toISOString(),
        finishReason: outcome.finishReason,
        clientAborted: false,
      });
      return;
    }

    await this.relay(context, spec, route, opened, clientGone.signal, started, (result) => {
      const latencyMs = round(performance.now() - started);
      if (result.error && !result.clientAborted) {
        failed(new ApiError(502, result.error.message, { code: result.error.code }), {
          ...result.usage,
          midStream: true,
          ttft: result.ttft,
        });
        return;
      }
      // A client that leaves after tokens were generated pays for the work done; before, nothing.
      const charged = result.clientAborted && !result.sawToken
        ? billing.release("client_disconnected")
        : billing.settle();
      this.recorder.record("InferenceCompleted", {
        ...base,
        ...result.usage,
        latencyMs,
        timeToFirstTokenMs: result.ttft,
        ...billing.completedFacts(charged),
        finishedAt: this.clock.now().toISOString(),
        finishReason: result.finishReason,
        clientAborted: result.clientAborted,
        ...(result.clientStalled ? { clientStalled: true } : {}),
      });
    });
  }

  /** Relays an upstream SSE stream chunk by chunk: parse, normalise, write and flush each frame. */
  private async relay(
    context: InferenceContext,
    spec: CallSpec,
    route: Route,
    opened: OpenedUpstream,
    clientGone: AbortSignal,
    started: number,
    done: (result: StreamResult) => void,
  ): Promise<void> {
    const { reply, request } = context;
    const raw = reply.raw;
    const normaliser = new ChatStreamNormaliser({
      object: spec.streamObject!,
      clientModel: spec.model,
      systemFingerprint: fingerprint(route),
      includeUsage: spec.includeUsage,
      estimatePromptTokens: spec.estimatePromptTokens,
    });
    const format = spec.streamFormat!();
    // A PassThrough body (not a hijacked reply): Fastify keeps owning the connection and its
    // keep-alive, and every frame written here is piped to the socket at once.
    const body = new PassThrough();
    reply.code(200).headers({
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache",
      "x-accel-buffering": "no",
      "x-request-id": String(request.id),
      // Deno's node:http keeps a socket that carried a streamed response marked busy if the
      // client reuses it, which blocks graceful shutdown; one connection per stream avoids it.
      connection: "close",
    }).send(body);
    raw.socket?.setNoDelay?.(true);
    let lastWrite = performance.now();
    // A client that does not drain for STREAM_STALL_TIMEOUT_MS loses its stream: backpressure
    // alone would hold the upstream connection (and a shared endpoint's slot) for ever.
    const stallTimeoutMs = this.upstream.streamStallTimeoutMs;
    watchesOwnStalls(raw);
    let stalled = false;
    const onStall = () => {
      if (stalled || raw.destroyed) return;
      stalled = true;
      logger.write("warn", "stream client stalled; stream ended", {
        requestId: request.id,
        stallTimeoutMs,
      });
      opened.abort();
      body.destroy();
      raw.destroy();
    };
    const write = (text: string): Promise<void> | undefined => {
      if (!text || raw.destroyed || body.writableEnded) return;
      lastWrite = performance.now();
      if (body.write(text)) return;
      return waitForDrain(body, raw, stallTimeoutMs, onStall);
    };
    // SSE comments keep idle proxies from closing a stream waiting for a slow first token.
    const keepAlive = setInterval(() => {
      if (performance.now() - lastWrite >= KEEP_ALIVE_MS && !body.writableNeedDrain) {
        write(": keep-alive\n\n");
      }
    }, KEEP_ALIVE_MS);
    let ttft: number | null = null;
    let clientAborted = false;
    try {
      const start = write(format.start());
      if (start) await start;
      // The body is read through the upstream limits; the parser enforces the frame limit.
      const reader = opened.body;
      const parser = new SseParser(this.upstream.maxFrameBytes);
      const emit = async (payloads: string[]) => {
        for (const payload of payloads) {
          for (const output of normaliser.accept(payload)) {
            const pending = write(format.render(output));
            if (pending) await pending;
          }
          if (ttft === null && normaliser.sawToken) ttft = round(performance.now() - started);
          if (normaliser.done || stalled) return;
        }
      };
      try {
        // A stalled client's stream ends here: nothing more is read or judged (not "truncated").
        while (!normaliser.done && !stalled) {
          const value = await reader.read();
          if (!value) {
            await emit(parser.end());
            for (const output of normaliser.finish(false)) await write(format.render(output));
            break;
          }
          await emit(parser.push(value));
        }
      } catch (error) {
        if (clientGone.aborted || stalled) clientAborted = true;
        else if (error instanceof BodyLimitExceeded || error instanceof SseFrameTooLarge) {
          // Too much or too slow: the stream has started, so an error frame (and [DONE]).
          logger.write("warn", "upstream stream refused", {
            requestId: request.id,
            error: error.message,
          });
          for (
            const output of normaliser.fail(
              upstreamInvalidResponse(error.message).message,
              "upstream_invalid_response",
            )
          ) await write(format.render(output));
        } else {
          logger.write("warn", "upstream stream failed", {
            requestId: request.id,
            error: (error as Error).message,
          });
          for (
            const output of normaliser.fail(
              "The connection to the upstream model server failed mid-stream.",
              "upstream_stream_failed",
            )
          ) await write(format.render(output));
        }
      } finally {
        // Stop reading (and free the upstream connection) whatever ended the loop.
        opened.abort();
      }
      if (clientGone.aborted || stalled) clientAborted = true;
      if (!clientAborted && !normaliser.error) await write(format.end(normaliser));
    } finally {
      // The cast bridges Deno's and @types/node's timer types (both checked together with tests).
      clearInterval(keepAlive as Parameters<typeof clearInterval>[0]);
      opened.abort();
      // A client that is gone (or was cut off for not reading) gets no graceful end: what is
      // still queued for it would keep its connection open.
      if (clientAborted) body.destroy();
      else if (!body.writableEnded) body.end();
      const usage = normaliser.finalUsage();
      done({
        usage: {
          promptTokens: usage.prompt_tokens,
          completionTokens: usage.completion_tokens,
          totalTokens: usage.total_tokens,
          usageEstimated: usage.estimated === true,
        },
        ttft,
        finishReason: normaliser.finishReason,
        error: normaliser.error,
        clientAborted,
        clientStalled: stalled,
        sawToken: normaliser.sawToken,
      });
    }
  }
}

interface StreamResult {
  usage: InferenceUsage;
  ttft: number | null;
  finishReason: string | null;
  error?: { message: string; code: string | null };
  clientAborted: boolean;
  /** The client stopped draining for STREAM_STALL_TIMEOUT_MS and the gateway ended the stream. */
  clientStalled: boolean;
  sawToken: boolean;
}

/**
 * Per-request billing for serverless catalogue models: reserve before the upstream call,
 * settle on success, release on failure. Pods and external upstreams cost nothing per request.
 * Settle/release run off the response path (PendingSettlements retries them and shutdown waits
 * for them); the client doesn't wait.
 */
class RequestBilling {
  private state: "none" | "reserved" | "settled" | "released" = "none";

  constructor(
    private readonly ledger: LedgerService,
    private readonly settlements: PendingSettlements,
    private readonly principal: Principal,
    private readonly route: Route,
    private readonly reservationId: string,
    private readonly model: string,
    private readonly requestId: string,
  ) {}

  async reserve(): Promise<void> {
    if (this.route.priceMicros <= 0) return;
    await this.ledger.reserve(this.principal.accountId, {
      reservationId: this.reservationId,
      amountMicros: this.route.priceMicros,
      reference: `inference:${this.reservationId}`,
      model: this.model,
    }, { actor: this.principal.actor, requestId: this.requestId });
    this.state = "reserved";
  }

  /** Returns the amount charged. */
  settle(): number {
    if (this.state !== "reserved") return 0;
    this.state = "settled";
    this.settlements.track(
      "settlement",
      this.reservationId,
      () =>
        this.ledger.settle(this.principal.accountId, {
          reservationId: this.reservationId,
          amountMicros: this.route.priceMicros,
          reference: `inference:${this.reservationId}`,
          model: this.model,
          kind: INFERENCE_CHARGE_KIND,
        }, { actor: this.principal.actor, requestId: this.requestId }),
    );
    return this.route.priceMicros;
  }

  /**
   * What InferenceCompleted records about the charge: its amount and, when there is one, the
   * ledger key it settles (the charge reconciler charges a missing one under that key).
   */
  completedFacts(chargedMicros: number): { chargedMicros: number; reservationId?: string } {
    return chargedMicros > 0 ? { chargedMicros, reservationId: this.reservationId } : {
      chargedMicros,
    };
  }

  release(reason: string): number {
    if (this.state !== "reserved") return 0;
    this.state = "released";
    this.settlements.track(
      "release",
      this.reservationId,
      () =>
        this.ledger.release(
          this.principal.accountId,
          { reservationId: this.reservationId, reason },
          {
            actor: this.principal.actor,
            requestId: this.requestId,
          },
        ),
    );
    return 0;
  }
}

function usageOf(usage: any, prompt: () => number, completion: () => number): InferenceUsage {
  if (usage && Number.isInteger(usage.prompt_tokens) && Number.isInteger(usage.completion_tokens)) {
    return {
      promptTokens: usage.prompt_tokens,
      completionTokens: usage.completion_tokens,
      totalTokens: Number.isInteger(usage.total_tokens)
        ? usage.total_tokens
        : usage.prompt_tokens + usage.completion_tokens,
      usageEstimated: false,
    };
  }
  const promptTokens = prompt();
  const completionTokens = completion();
  return {
    promptTokens,
    completionTokens,
    totalTokens: promptTokens + completionTokens,
    usageEstimated: true,
  };
}

function openAiUsage(usage: InferenceUsage) {
  return {
    prompt_tokens: usage.promptTokens,
    completion_tokens: usage.completionTokens,
    total_tokens: usage.totalTokens,
  };
}

function fingerprint(route: Route): string {
  return `modelpilot-${route.deploymentId}`;
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

function internalError(error: unknown): ApiError {
  logger.write("error", "inference request failed", {
    error: (error as Error)?.message,
    stack: (error as Error)?.stack,
  });
  return new ApiError(500, "The server had an error while processing your request.", {
    type: "server_error",
    code: "internal_error",
  });
}

/** Resolves on drain or close; after `stallTimeoutMs` without either, calls `onStall` first. */
function waitForDrain(
  body: PassThrough,
  raw: ServerResponse,
  stallTimeoutMs: number,
  onStall: () => void,
): Promise<void> {
  return new Promise((resolve) => {
    const finish = () => {
      clearTimeout(timer as Parameters<typeof clearTimeout>[0]);
      body.off("drain", finish);
      raw.off("close", finish);
      resolve();
    };
    const timer = setTimeout(() => {
      onStall();
      finish();
    }, stallTimeoutMs);
    body.on("drain", finish);
    raw.on("close", finish);
  });
}
