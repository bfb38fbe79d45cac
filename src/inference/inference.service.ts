import { Inject, Injectable } from "@nestjs/common";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { ServerResponse } from "node:http";
import { ApiError } from "../common/api-error.ts";
import { CLOCK, type Clock } from "../common/clock.ts";
import { logger } from "../common/json-logger.ts";
import { toApiError } from "../common/openai-exception.filter.ts";
import type { Principal } from "../auth/principal.ts";
import { LedgerService } from "../billing/ledger.service.ts";
import { AccountConcurrency } from "./account-concurrency.ts";
import type { CallSpec } from "./endpoints/call-spec.ts";
import { chatCall } from "./endpoints/chat.endpoint.ts";
import { completionsCall } from "./endpoints/completions.endpoint.ts";
import { embeddingsCall } from "./endpoints/embeddings.endpoint.ts";
import { responsesCall } from "./endpoints/responses.endpoint.ts";
import { InferenceRun, type RunTools } from "./inference-run.ts";
import { ModelRouter, type Route } from "./model-router.ts";
import { PendingSettlements } from "./pending-settlements.ts";
import { payloadFor, RoutedInference } from "./routed-inference.ts";
import { SseRelay } from "./streaming/sse-relay.ts";
import { ClientAborted, type OpenedUpstream, UpstreamClient } from "./upstream/upstream-client.ts";
import { UsageRecorder } from "./usage-recorder.ts";
import { WAKER, type Waker } from "./wake.ts";

export interface InferenceContext {
  principal: Principal;
  request: FastifyRequest;
  reply: FastifyReply;
}

/**
 * The gateway pipeline: validate → route → reserve (serverless catalogue models) → call the
 * upstream → shape or relay → settle/release → record one InferenceCompleted/InferenceFailed
 * (InferenceRun). The event and the settlement are submitted without making the client wait.
 */
@Injectable()
export class InferenceService {
  constructor(
    @Inject(ModelRouter) private readonly router: ModelRouter,
    @Inject(UpstreamClient) upstream: UpstreamClient,
    @Inject(SseRelay) sse: SseRelay,
    @Inject(UsageRecorder) recorder: UsageRecorder,
    @Inject(LedgerService) ledger: LedgerService,
    @Inject(PendingSettlements) settlements: PendingSettlements,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(AccountConcurrency) private readonly concurrency: AccountConcurrency,
    @Inject(RoutedInference) private readonly routed: RoutedInference,
    @Inject(WAKER) private readonly waker: Waker,
  ) {
    this.tools = { upstream, sse, recorder, ledger, settlements, clock, asApiError };
  }

  private readonly tools: RunTools;

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
   * concurrency slot. A refusal therefore appends nothing to the event store. A model group or
   * a pod asleep takes the slower path (RoutedInference); a running deployment or a catalogue
   * model pays for none of it.
   */
  private async execute(context: InferenceContext, spec: CallSpec): Promise<void> {
    const accountId = context.principal.accountId;
    const resolved = this.router.resolve(accountId, spec.model, spec.purpose);
    if (resolved.kind === "group" || resolved.kind === "asleep") {
      const candidates = this.routed.plan(accountId, spec, resolved);
      return this.withSlot(context, () => {
        const run = new InferenceRun(this.tools, context, spec);
        if (!run.watchClient()) return Promise.resolve();
        return this.routed.call(run, context, spec, candidates, resolved);
      });
    }
    const payload = payloadFor(spec, resolved);
    if (resolved.kind === "pod") this.waker.touch(resolved.deploymentId);
    this.concurrency.acquire(accountId);
    try {
      // Resolves only once the upstream response is done with (streams: when the relay ends).
      await this.call(context, spec, resolved, payload);
    } finally {
      this.releaseWhenWritten(accountId, context.reply.raw);
    }
  }

  /** Runs `work` in one of the account's concurrency slots. */
  private async withSlot(context: InferenceContext, work: () => Promise<void>): Promise<void> {
    const accountId = context.principal.accountId;
    this.concurrency.acquire(accountId);
    try {
      // Resolves only once the upstream response is done with (streams: when the relay ends).
      await work();
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
    const run = new InferenceRun(this.tools, context, spec);
    if (!run.watchClient()) return;
    await run.reserve(route);
    let opened: OpenedUpstream;
    try {
      opened = await run.open(route, payload);
    } catch (error) {
      const known = error instanceof ClientAborted ? error : asApiError(error);
      run.failed(known);
      if (known instanceof ClientAborted) return;
      throw known;
    }
    await run.serve(route, opened);
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
