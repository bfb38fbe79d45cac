import { Inject, Injectable } from "@nestjs/common";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { ServerResponse } from "node:http";
import { ApiError } from "../common/api-error.ts";
import { CLOCK, type Clock } from "../common/clock.ts";
import { newId } from "../common/ids.ts";
import { logger } from "../common/json-logger.ts";
import { toApiError } from "../common/openai-exception.filter.ts";
import type { Principal } from "../auth/principal.ts";
import { LedgerService } from "../billing/ledger.service.ts";
import { APP_CONFIG, type AppConfig } from "../config/config.ts";
import { AccountConcurrency } from "./account-concurrency.ts";
import type { CallSpec, JsonOutcome } from "./endpoints/call-spec.ts";
import { chatCall } from "./endpoints/chat.endpoint.ts";
import { completionsCall } from "./endpoints/completions.endpoint.ts";
import { embeddingsCall } from "./endpoints/embeddings.endpoint.ts";
import { responsesCall } from "./endpoints/responses.endpoint.ts";
import type { InferenceUsage } from "./inference.events.ts";
import { ModelRouter, type Purpose, type Route } from "./model-router.ts";
import { PendingSettlements } from "./pending-settlements.ts";
import { RequestBilling } from "./request-billing.ts";
import { SseRelay } from "./streaming/sse-relay.ts";
import {
  ClientAborted,
  type OpenedUpstream,
  parseUpstreamJson,
  readUpstreamText,
  UpstreamClient,
} from "./upstream/upstream-client.ts";
import { roundMs } from "./usage.ts";
import { UsageRecorder } from "./usage-recorder.ts";
import { checkServingLimits, type UpstreamCall } from "./validation/serving-limits.ts";

export interface InferenceContext {
  principal: Principal;
  request: FastifyRequest;
  reply: FastifyReply;
}

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
  constructor(
    @Inject(ModelRouter) private readonly router: ModelRouter,
    @Inject(UpstreamClient) private readonly upstream: UpstreamClient,
    @Inject(SseRelay) private readonly sse: SseRelay,
    @Inject(UsageRecorder) private readonly recorder: UsageRecorder,
    @Inject(LedgerService) private readonly ledger: LedgerService,
    @Inject(PendingSettlements) private readonly settlements: PendingSettlements,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(AccountConcurrency) private readonly concurrency: AccountConcurrency,
  ) {}

  chat(context: InferenceContext): Promise<void> {
    return this.execute(context, chatCall(context.request.body));
  }

  completions(context: InferenceContext): Promise<void> {
    return this.execute(context, completionsCall(context.request.body));
  }

  embeddings(context: InferenceContext): Promise<void> {
    return this.execute(context, embeddingsCall(context.request.body));
  }

  responses(context: InferenceContext): Promise<void> {
    return this.execute(context, responsesCall(context.request.body, this.clock));
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
        latencyMs: roundMs(performance.now() - started),
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
      const known = error instanceof ClientAborted ? error : asApiError(error);
      failed(known, {});
      if (known instanceof ClientAborted) return;
      throw known;
    }

    if (!spec.stream) {
      let outcome: JsonOutcome;
      try {
        // Through UPSTREAM_MAX_RESPONSE_BYTES and the idle/total timeouts: a 502 past them.
        const data = parseUpstreamJson(await readUpstreamText(opened));
        outcome = spec.shape!(data, route, performance.now() - started);
      } catch (error) {
        if (clientGone.signal.aborted) {
          failed(new ClientAborted("client disconnected"), {});
          return;
        }
        const known = asApiError(error);
        failed(known, {});
        throw known;
      }
      const latencyMs = roundMs(performance.now() - started);
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

    const result = await this.sse.relay(context, spec, route, opened, clientGone.signal, started);
    const latencyMs = roundMs(performance.now() - started);
    if (result.error && !result.clientAborted) {
      failed(new ApiError(502, result.error.message, { code: result.error.code }), {
        ...result.usage,
        midStream: true,
        ttft: result.ttft,
      });
    } else {
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
    }
    if (result.fault !== undefined) throw result.fault;
  }
}

/** A failure as the client's envelope; one the gateway did not expect is logged with its stack. */
function asApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  logger.write("error", "inference request failed", {
    error: (error as Error)?.message,
    stack: (error as Error)?.stack,
  });
  return toApiError(error);
}
