import { Inject, Injectable } from "@nestjs/common";
import { ApiError } from "../common/api-error.ts";
import { CLOCK, type Clock } from "../common/clock.ts";
import { DomainError, isDomainError } from "../common/domain-error.ts";
import { toApiError } from "../common/openai-exception.filter.ts";
import type { CallSpec } from "./endpoints/call-spec.ts";
import { type GroupCandidate, GroupRouting } from "./group-routing.ts";
import type { InferenceRun } from "./inference-run.ts";
import type { InferenceContext } from "./inference.service.ts";
import {
  type AsleepDeployment,
  type GroupResolution,
  ModelRouter,
  type Purpose,
  type Route,
} from "./model-router.ts";
import { type BegunStream, SseRelay } from "./streaming/sse-relay.ts";
import { ClientAborted } from "./upstream/upstream-client.ts";
import { checkServingLimits, type UpstreamCall } from "./validation/serving-limits.ts";
import { WAKER, type Waker } from "./wake.ts";

/** Which shared-endpoint call each purpose makes (responses go through chat completions). */
export const SERVING_CALL: Record<Purpose, UpstreamCall> = {
  chat: "chat",
  responses: "chat",
  completions: "completions",
  embeddings: "embeddings",
};

/** A member this request may go to: ready (route and body known) or asleep (woken first). */
type Member =
  | { asleep: false; route: Route; payload: string }
  | { asleep: true; deploymentId: string; model: string };

/** The checks a route makes of a request, and the upstream body for it. */
export function payloadFor(spec: CallSpec, route: Route): string {
  spec.check?.(route);
  const body = spec.upstreamBody(route);
  if (route.limits) {
    checkServingLimits(
      body,
      SERVING_CALL[spec.purpose],
      route.limits,
      spec.model,
      spec.purpose === "responses",
    );
  }
  return JSON.stringify(body);
}

/**
 * The pipeline's slower path: a model group (members in strategy order, failing over before the
 * first byte) and a pod asleep (woken first, with heartbeats on a stream). A plain request for a
 * running deployment never comes here.
 */
@Injectable()
export class RoutedInference {
  constructor(
    @Inject(ModelRouter) private readonly router: ModelRouter,
    @Inject(GroupRouting) private readonly routing: GroupRouting,
    @Inject(SseRelay) private readonly sse: SseRelay,
    @Inject(WAKER) private readonly waker: Waker,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  /**
   * The members to try, in order. Refusals happen here, before anything is reserved or
   * recorded: no member can serve now (503 `model_group_unavailable`, with Retry-After when
   * they are cooling down), or no member takes this request (the first member's refusal).
   */
  plan(
    accountId: string,
    spec: CallSpec,
    resolved: GroupResolution | AsleepDeployment,
  ): GroupCandidate<Member>[] {
    if (resolved.kind === "asleep") {
      const member: Member = {
        asleep: true,
        deploymentId: resolved.deploymentId,
        model: spec.model,
      };
      return [{ key: resolved.deploymentId, index: 0, weight: 1, asleep: true, member }];
    }
    const { group } = resolved;
    const now = this.clock.now().getTime();
    const candidates: GroupCandidate<Member>[] = [];
    const cooling: string[] = [];
    let refusal: unknown;
    group.members.forEach((member, index) => {
      const usable = this.router.member(accountId, member, spec.purpose);
      if (!usable) return;
      const id = usable.asleep ? usable.deploymentId : usable.route.deploymentId;
      const key = `${accountId}\n${id}`;
      if (this.routing.coolingDown(key, now)) return void cooling.push(key);
      const weight = member.weight ?? 1;
      if (usable.asleep) {
        const asleep: Member = { asleep: true, deploymentId: id, model: member.model };
        return void candidates.push({ key, index, weight, asleep: true, member: asleep });
      }
      try {
        const payload = payloadFor(spec, usable.route);
        const ready: Member = { asleep: false, route: usable.route, payload };
        candidates.push({ key, index, weight, asleep: false, member: ready });
      } catch (error) {
        refusal ??= error;
      }
    });
    if (candidates.length === 0) {
      if (refusal && cooling.length === 0) throw refusal;
      throw new DomainError(
        "model_group_unavailable",
        `No member of the model group '${group.name}' can serve this request now.`,
        "model",
        cooling.length > 0 ? this.routing.retryAfterSeconds(cooling, now) : 5,
      );
    }
    return this.routing.order(group.id, group.strategy, candidates, group.members.length);
  }

  /** Tries the members in order; resolves once the answer is done with, like the plain path. */
  async call(
    run: InferenceRun,
    context: InferenceContext,
    spec: CallSpec,
    candidates: GroupCandidate<Member>[],
    resolved: GroupResolution | AsleepDeployment,
  ): Promise<void> {
    const accountId = context.principal.accountId;
    if (resolved.kind === "group") {
      run.facts.groupId = resolved.group.id;
      run.facts.groupName = resolved.group.name;
    }
    const inGroup = resolved.kind === "group";
    // Where a failure before any attempt is recorded (the first member to be tried).
    const first = candidates[0].member;
    if (first.asleep) run.aim("pod", first.deploymentId);
    else run.aim(first.route.kind, first.route.deploymentId);
    const failedOver: string[] = [];
    let begun: BegunStream | undefined;
    let lastError: ApiError | undefined;
    for (const candidate of candidates) {
      if (run.clientGone.signal.aborted) break;
      let route: Route;
      let payload: string;
      const member = candidate.member;
      if (member.asleep) {
        run.aim("pod", member.deploymentId);
        // The waker calls onWaiting at once and then every few seconds.
        if (spec.stream && !begun) begun = this.sse.begin(context);
        try {
          const stream = begun;
          const woke = await this.waker.ensureAwake(accountId, member.deploymentId, {
            onWaiting: stream ? () => this.sse.comment(stream, "waking") : undefined,
            signal: run.clientGone.signal,
          });
          if (woke.woke || woke.waitedMs > 0) run.facts.wokeAfterMs = Math.round(woke.waitedMs);
          route = this.router.awake(accountId, member.model, member.deploymentId);
          payload = payloadFor(spec, route);
        } catch (error) {
          if (run.clientGone.signal.aborted) break;
          lastError = toApiError(error);
          // In a group, a pod that cannot wake (or cannot take this request) leaves it to the next.
          if (!inGroup) return this.fail(run, spec, lastError, begun);
          failedOver.push(member.deploymentId);
          continue;
        }
      } else {
        route = member.route;
        payload = member.payload;
      }
      if (route.kind === "pod") this.waker.touch(route.deploymentId);
      if (inGroup) run.facts.memberDeploymentId = route.deploymentId;
      if (failedOver.length > 0) run.facts.failedOverFrom = [...failedOver];
      try {
        await run.reserve(route);
      } catch (error) {
        // A priced member the balance cannot cover: a free member may still serve.
        lastError = toApiError(error);
        if (!inGroup || !isDomainError(error, "insufficient_credits")) {
          return this.fail(run, spec, lastError, begun);
        }
        continue;
      }
      this.routing.begin(candidate.key);
      try {
        let opened;
        try {
          opened = await run.open(route, payload);
        } catch (error) {
          run.releaseAttempt();
          if (error instanceof ClientAborted) break;
          lastError = toApiError(error);
          if (!inGroup || !failsOver(lastError)) return this.fail(run, spec, lastError, begun);
          this.routing.coolDown(
            candidate.key,
            this.clock.now().getTime(),
            lastError.headers["retry-after"],
          );
          failedOver.push(route.deploymentId);
          continue;
        }
        // Committed: from here nothing is retried (bytes may reach the client).
        await run.serve(route, opened, begun);
        return;
      } finally {
        this.routing.end(candidate.key);
      }
    }
    if (run.clientGone.signal.aborted) {
      run.failed(new ClientAborted("client disconnected"));
      begun?.body.destroy();
      return;
    }
    return this.fail(run, spec, lastError ?? noMemberServed(), begun);
  }

  /** Records the failure; before any byte it is thrown, on a begun stream it is an error frame. */
  private fail(run: InferenceRun, spec: CallSpec, error: ApiError, begun?: BegunStream): void {
    run.failed(error, { midStream: begun !== undefined });
    if (!begun) throw error;
    this.sse.fail(begun, spec, error.body().error);
  }
}

/** Before the first byte, these move a group request to its next member. */
function failsOver(error: ApiError): boolean {
  const status = error.getStatus();
  return status === 429 || status >= 500;
}

function noMemberServed(): ApiError {
  return new ApiError(503, "No member of the model group could serve this request.", {
    type: "api_error",
    code: "model_group_unavailable",
    param: "model",
  });
}
