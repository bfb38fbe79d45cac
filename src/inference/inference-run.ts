import { ApiError } from "../common/api-error.ts";
import type { Clock } from "../common/clock.ts";
import { newId } from "../common/ids.ts";
import type { LedgerService } from "../billing/ledger.service.ts";
import type { CallSpec, JsonOutcome } from "./endpoints/call-spec.ts";
import type { InferenceUsage, RouteKind } from "./inference.events.ts";
import type { InferenceContext } from "./inference.service.ts";
import type { Route } from "./model-router.ts";
import type { PendingSettlements } from "./pending-settlements.ts";
import { RequestBilling } from "./request-billing.ts";
import type { BegunStream, SseRelay } from "./streaming/sse-relay.ts";
import {
  ClientAborted,
  type OpenedUpstream,
  parseUpstreamJson,
  readUpstreamText,
  type UpstreamClient,
} from "./upstream/upstream-client.ts";
import { roundMs } from "./usage.ts";
import type { UsageRecorder } from "./usage-recorder.ts";

/** What every request's run uses (the pipeline's collaborators). */
export interface RunTools {
  upstream: UpstreamClient;
  sse: SseRelay;
  recorder: UsageRecorder;
  ledger: LedgerService;
  settlements: PendingSettlements;
  clock: Clock;
  /** A failure the gateway did not expect, as the client's envelope (logged with its stack). */
  asApiError(error: unknown): ApiError;
}

/** Group and wake facts InferenceCompleted/InferenceFailed carry beside the usage. */
export interface RoutingFacts {
  groupId?: string;
  groupName?: string;
  memberDeploymentId?: string;
  failedOverFrom?: string[];
  wokeAfterMs?: number;
}

type FailureExtra = Partial<InferenceUsage> & { midStream?: boolean; ttft?: number | null };

/**
 * One OpenAI-compatible request from its first attempt to its one recorded event: the hold at
 * the price of the route it is on (each attempt its own, a failed attempt's released), the
 * upstream call, the answer shaped or relayed, the settlement and InferenceCompleted or
 * InferenceFailed. The event and the settlement are submitted without making the client wait.
 */
export class InferenceRun {
  readonly started = performance.now();
  readonly startedAt: string;
  readonly inferenceId = newId("inf", 20);
  /** The client going away aborts the upstream call at once. */
  readonly clientGone = new AbortController();
  readonly facts: RoutingFacts = {};
  private route?: Pick<Route, "kind" | "deploymentId" | "upstreamModel">;
  private billing?: RequestBilling;
  private attempts = 0;

  constructor(
    private readonly tools: RunTools,
    private readonly context: InferenceContext,
    private readonly spec: CallSpec,
  ) {
    this.startedAt = tools.clock.now().toISOString();
  }

  /** False when the client left while being authenticated: not served, not billed. */
  watchClient(): boolean {
    const raw = this.context.reply.raw;
    if (raw.destroyed || raw.socket?.destroyed) return false;
    raw.once("close", () => {
      if (!raw.writableFinished) this.clientGone.abort();
    });
    return true;
  }

  /** Where a failure that never reached a route is recorded (a pod that did not wake). */
  aim(kind: RouteKind, deploymentId: string): void {
    this.route = { kind, deploymentId, upstreamModel: this.spec.model };
  }

  /** Holds this route's price for the next attempt (nothing for routes without one). */
  async reserve(route: Route): Promise<void> {
    this.route = route;
    const attempt = this.attempts++;
    const reservationId = attempt === 0 ? this.inferenceId : `${this.inferenceId}.${attempt}`;
    const { principal, request } = this.context;
    const { ledger, settlements } = this.tools;
    this.billing = new RequestBilling(
      ledger,
      settlements,
      principal,
      route,
      reservationId,
      this.spec.model,
      String(request.id),
    );
    await this.billing.reserve();
  }

  open(route: Route, payload: string): Promise<OpenedUpstream> {
    return this.tools.upstream.open(route, "POST", this.spec.path, payload, this.clientGone.signal);
  }

  /** An attempt that failed before anything reached the client: its hold goes back. */
  releaseAttempt(): void {
    this.billing?.release("upstream_failed");
  }

  failed(error: ApiError | ClientAborted, extra: FailureExtra = {}): void {
    this.billing?.release(
      error instanceof ClientAborted ? "client_disconnected" : "upstream_failed",
    );
    const status = error instanceof ApiError ? error.getStatus() : 499;
    this.tools.recorder.record("InferenceFailed", {
      ...this.base(),
      promptTokens: extra.promptTokens ?? 0,
      completionTokens: extra.completionTokens ?? 0,
      totalTokens: extra.totalTokens ?? 0,
      usageEstimated: extra.usageEstimated ?? false,
      latencyMs: roundMs(performance.now() - this.started),
      timeToFirstTokenMs: extra.ttft ?? null,
      chargedMicros: 0,
      finishedAt: this.tools.clock.now().toISOString(),
      status,
      errorCode: error instanceof ApiError ? error.code : "client_disconnected",
      errorMessage: error.message,
      midStream: extra.midStream ?? false,
    });
  }

  /** Shapes or relays the opened upstream's answer, settles and records it. */
  async serve(route: Route, opened: OpenedUpstream, begun?: BegunStream): Promise<void> {
    const { spec, context, tools } = this;
    const billing = this.billing!;
    if (!spec.stream) {
      let outcome: JsonOutcome;
      try {
        // Through UPSTREAM_MAX_RESPONSE_BYTES and the idle/total timeouts: a 502 past them.
        const data = parseUpstreamJson(await readUpstreamText(opened));
        outcome = spec.shape!(data, route, performance.now() - this.started);
      } catch (error) {
        if (this.clientGone.signal.aborted) {
          this.failed(new ClientAborted("client disconnected"));
          return;
        }
        const known = tools.asApiError(error);
        this.failed(known);
        throw known;
      }
      const latencyMs = roundMs(performance.now() - this.started);
      const charged = billing.settle();
      context.reply.code(200).header("content-type", "application/json").send(
        JSON.stringify(outcome.body),
      );
      tools.recorder.record("InferenceCompleted", {
        ...this.base(),
        ...outcome.usage,
        latencyMs,
        timeToFirstTokenMs: latencyMs,
        ...billing.completedFacts(charged),
        finishedAt: tools.clock.now().toISOString(),
        finishReason: outcome.finishReason,
        clientAborted: false,
      });
      return;
    }

    const result = await tools.sse.relay(
      context,
      spec,
      route,
      opened,
      this.clientGone.signal,
      this.started,
      begun,
    );
    const latencyMs = roundMs(performance.now() - this.started);
    if (result.error && !result.clientAborted) {
      this.failed(new ApiError(502, result.error.message, { code: result.error.code }), {
        ...result.usage,
        midStream: true,
        ttft: result.ttft,
      });
    } else {
      // A client that leaves after tokens were generated pays for the work done; before, nothing.
      const charged = result.clientAborted && !result.sawToken
        ? billing.release("client_disconnected")
        : billing.settle();
      tools.recorder.record("InferenceCompleted", {
        ...this.base(),
        ...result.usage,
        latencyMs,
        timeToFirstTokenMs: result.ttft,
        ...billing.completedFacts(charged),
        finishedAt: tools.clock.now().toISOString(),
        finishReason: result.finishReason,
        clientAborted: result.clientAborted,
        ...(result.clientStalled ? { clientStalled: true } : {}),
      });
    }
    if (result.fault !== undefined) throw result.fault;
  }

  private base() {
    const { principal, request } = this.context;
    const route = this.route!;
    return {
      inferenceId: this.inferenceId,
      requestId: String(request.id),
      accountId: principal.accountId,
      keyId: principal.keyId ?? null,
      endpoint: this.spec.endpoint,
      model: this.spec.model,
      upstreamModel: route.upstreamModel,
      routeKind: route.kind,
      deploymentId: route.deploymentId,
      stream: this.spec.stream,
      startedAt: this.startedAt,
      ...this.facts,
    };
  }
}
