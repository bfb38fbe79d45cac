import { Inject, Injectable, type OnApplicationShutdown } from "@nestjs/common";
import { CLOCK, type Clock } from "../common/clock.ts";
import { DomainError } from "../common/domain-error.ts";
import { logger } from "../common/json-logger.ts";
import { repeatEvery } from "../common/repeat.ts";
import { sleep } from "../common/sleep.ts";
import { APP_CONFIG, type AppConfig } from "../config/config.ts";
import {
  deploymentNotFound,
  type DeploymentState,
  minutePriceMicros,
} from "./deployment.decider.ts";
import { spendCapReached, wakesOnRequest } from "./deployment-sleep.ts";
import { DeploymentCommandHandler } from "./deployment.handler.ts";
import { DeploymentsQueries } from "./deployments.queries.ts";
import { PodLifecycleService } from "./pods/pod-lifecycle.service.ts";
import { isSleeping } from "./upstream-targets.ts";

/**
 * A request's use of a deployment is appended (DeploymentUsed) at most this often per instance:
 * the first use after a quiet spell at once, later ones coalesced and flushed by the idle sweep.
 * The idle sweep allows this much on top of idle_timeout_s, so use on another instance that is
 * not appended yet never looks like idleness.
 */
export const DEPLOYMENT_USED_FLUSH_MS = 60_000;
/** A wake some instance requested and never finished (it died) is taken over after this long. */
const WAKE_STALE_MS = 10 * 60_000;
/** How often a waiting request re-reads the stream, and retries the warm-up inference. */
const WAKE_POLL_MS = 100;
/** Seconds a client told `model_warming_up` should wait before retrying. */
const WARMING_RETRY_AFTER_S = 10;

export interface WakeOptions {
  /** Called at once and then every heartbeat while the request waits (SSE comments). */
  onWaiting?: () => void;
  /** The client went away: stop waiting (the wake itself carries on for the next request). */
  signal?: AbortSignal;
}

export interface WakeResult {
  /** The request waited for a wake (false: the pod was already serving). */
  woke: boolean;
  /** How long this request waited, ms (InferenceCompleted's time to first token after a wake). */
  waitedMs: number;
}

/**
 * Wake on request, and the record of use the idle sweep reads. `ensureAwake` starts a pod stopped
 * by `idle` (through the start route's path: hold settled, price re-read, a minute covered) and
 * resolves once ONE real warm-up inference through the pod proxy answered: RUNNING, or an open
 * port, is not ready (vLLM/Ollama answer 502 or stall while weights load). Concurrent requests on
 * this instance share one wake (a single flight per deployment); across instances the decider's
 * expected revision lets one DeploymentWakeRequested through, and the others wait on the stream.
 */
@Injectable()
export class DeploymentWaker implements OnApplicationShutdown {
  /** Aborted at shutdown: waits and warm-ups in flight end. */
  private readonly closing = new AbortController();
  private readonly flights = new Map<string, Promise<void>>();
  /** Last use seen here (ms) and the last use appended from here (ms), per deployment. */
  private readonly lastSeen = new Map<string, number>();
  private readonly lastAppended = new Map<string, number>();
  private heartbeatMs = 5_000;

  constructor(
    @Inject(DeploymentCommandHandler) private readonly handler: DeploymentCommandHandler,
    @Inject(DeploymentsQueries) private readonly queries: DeploymentsQueries,
    @Inject(PodLifecycleService) private readonly lifecycle: PodLifecycleService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  async onApplicationShutdown(): Promise<void> {
    this.closing.abort();
    await Promise.allSettled([...this.flights.values()]);
  }

  /** Test hook: a shorter heartbeat. */
  configure(options: { heartbeatMs?: number }): this {
    if (options.heartbeatMs !== undefined) this.heartbeatMs = options.heartbeatMs;
    return this;
  }

  /**
   * Whether a request must wait on ensureAwake. Sync: a running pod costs one map lookup; a
   * stopped or starting one reads its read-model row (UpstreamTarget.sleeping says the same).
   */
  needsWake(view: { id: string; provider: string; status: string }): boolean {
    if (view.provider !== "runpod") return false;
    if (this.flights.has(view.id)) return true;
    if (view.status === "running" || view.status === "terminated" || view.status === "failed") {
      return false;
    }
    const row = this.queries.getAnyAccount(view.id);
    return row !== undefined && isSleeping(row);
  }

  /** A request reached the deployment: sync, never throws (see DEPLOYMENT_USED_FLUSH_MS). */
  touch(deploymentId: string): void {
    const now = this.clock.now().getTime();
    this.lastSeen.set(deploymentId, Math.max(now, this.lastSeen.get(deploymentId) ?? 0));
    const appended = this.lastAppended.get(deploymentId);
    if (appended === undefined || now - appended >= DEPLOYMENT_USED_FLUSH_MS) {
      this.append(deploymentId, now);
    }
  }

  /** Last use seen on this instance (ms since the epoch), for the idle sweep. */
  lastSeenAt(deploymentId: string): number | undefined {
    return this.lastSeen.get(deploymentId);
  }

  /** Appends the uses seen here since the last append (the idle sweep calls this each pass). */
  async flushUse(): Promise<void> {
    const pending = [...this.lastSeen].filter(([id, at]) => (this.lastAppended.get(id) ?? 0) < at);
    await Promise.all(pending.map(([id, at]) => this.append(id, at)));
  }

  async ensureAwake(
    accountId: string,
    deploymentId: string,
    options: WakeOptions = {},
  ): Promise<WakeResult> {
    const view = this.queries.get(accountId, deploymentId);
    if (!view || view.provider !== "runpod") throw deploymentNotFound(deploymentId);
    if (view.status === "running" && view.wakeState !== "pending" && !this.flights.has(view.id)) {
      return { woke: false, waitedMs: 0 };
    }
    const started = performance.now();
    let flight = this.flights.get(deploymentId);
    if (!flight) {
      flight = this.wake(accountId, deploymentId, started)
        .finally(() => this.flights.delete(deploymentId));
      this.flights.set(deploymentId, flight);
      // A flight nobody waits for any more (every client timed out) still ends quietly.
      flight.catch(() => undefined);
    }
    options.onWaiting?.();
    const onWaiting = options.onWaiting;
    const heartbeat = onWaiting ? repeatEvery(this.heartbeatMs, onWaiting) : undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        flight,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(warmingUp(view.name, this.config.coldStartWaitMs)),
            this.config.coldStartWaitMs,
          );
        }),
        ...(options.signal ? [aborted(options.signal)] : []),
      ]);
    } finally {
      heartbeat?.stop();
      clearTimeout(timer);
    }
    return { woke: true, waitedMs: Math.round(performance.now() - started) };
  }

  /** One wake: request it (or join another's), start the pod, wait for RUNNING, warm up. */
  private async wake(accountId: string, id: string, started: number): Promise<void> {
    // Past the client's wait the wake carries on (the next request finds it further along).
    const giveUpAt = Date.now() + Math.max(this.config.coldStartWaitMs, WAKE_STALE_MS);
    let { state } = await this.handler.load(id);
    if (state.status === "stopped") {
      this.requireWakeable(state);
      const requested = await this.handler.handle(id, {
        type: "RequestWake",
        at: this.now(),
        staleAfterMs: WAKE_STALE_MS,
      }, { actor: "system:waker" });
      if (requested.newEvents.length > 0) {
        try {
          await this.lifecycle.startStopped(accountId, id, { actor: "system:waker" });
        } catch (error) {
          await this.fail(id, `Starting the pod failed: ${(error as Error).message}`);
          throw error;
        }
      }
    }
    for (;;) {
      ({ state } = await this.handler.load(id));
      if (state.status === "running" && state.baseUrl) break;
      const ended = state.status === "failed" || state.status === "terminated" ||
        (state.status === "stopped" && state.wake?.outcome !== "pending");
      if (ended || state.wake?.outcome === "failed") {
        throw new DomainError(
          "wake_failed",
          `The deployment '${state.name}' could not be woken (it is ${state.status}${
            state.failureReason ? `: ${state.failureReason}` : ""
          }).`,
          "model",
        );
      }
      if (Date.now() > giveUpAt) {
        await this.fail(id, "The pod did not start in time.");
        throw warmingUp(state.name ?? id, this.config.coldStartWaitMs);
      }
      await sleep(WAKE_POLL_MS, this.closing.signal);
    }
    // Ready means one real inference answered, not RUNNING and not an open port.
    for (;;) {
      try {
        await this.warmUp(state.baseUrl!, state.modelIdentifier!, giveUpAt);
        break;
      } catch (error) {
        this.closing.signal.throwIfAborted();
        if (Date.now() > giveUpAt) {
          await this.fail(id, `The warm-up inference failed: ${(error as Error).message}`);
          throw warmingUp(state.name ?? id, this.config.coldStartWaitMs);
        }
        await sleep(WAKE_POLL_MS, this.closing.signal);
      }
    }
    this.lastSeen.set(id, this.clock.now().getTime());
    const woken = await this.handler.handle(id, {
      type: "MarkWoken",
      waitedMs: Math.round(performance.now() - started),
      at: this.now(),
    }, { actor: "system:waker" });
    // The router re-resolves the target from the read model right after this: it must already
    // show the pod running at its new address (another instance's MarkWoken included).
    if (woken.position !== undefined) await this.queries.waitFor(woken.position);
    else await this.queries.untilCurrent();
  }

  /** Only a pod stopped by `idle` (or `spend_cap` once the month's spend allows) wakes. */
  private requireWakeable(state: DeploymentState): void {
    const name = state.name ?? state.deploymentId ?? "";
    const reason = state.stopReason;
    if (!wakesOnRequest(state.sleep) || (reason !== "idle" && reason !== "spend_cap")) {
      throw new DomainError(
        "wake_failed",
        `The deployment '${name}' is stopped (${reason ?? "stopped"}) and does not wake on ` +
          "request; start it with POST /api/deployments/{id}/start.",
        "model",
      );
    }
    const minute = minutePriceMicros(state.costPerHourUsd, this.config.podPriceMultiplier);
    if (spendCapReached(state, this.now(), minute)) {
      throw new DomainError(
        "spend_cap_reached",
        `The deployment '${name}' reached its max_spend_usd for this month; it wakes again next ` +
          "month, or raise the cap with PATCH /api/deployments/{id}.",
        "model",
      );
    }
  }

  /** A tiny chat completion through the pod proxy; throws unless it is answered. */
  private async warmUp(baseUrl: string, model: string, giveUpAt: number): Promise<void> {
    const response = await fetch(`${baseUrl.replace(/\/+$/, "")}/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        model,
        messages: [{ role: "user", content: "hi" }],
        max_tokens: 1,
        stream: false,
      }),
      signal: AbortSignal.any([
        this.closing.signal,
        AbortSignal.timeout(Math.max(1_000, giveUpAt - Date.now())),
      ]),
    });
    await response.body?.cancel().catch(() => undefined);
    if (!response.ok) throw new Error(`the pod answered ${response.status}`);
  }

  private async fail(id: string, reason: string): Promise<void> {
    await this.handler.handle(id, { type: "FailWake", reason, at: this.now() }, {
      actor: "system:waker",
    }).catch((error) =>
      logger.write("warn", "could not record a failed wake", {
        deploymentId: id,
        error: (error as Error).message,
      })
    );
  }

  private async append(deploymentId: string, at: number): Promise<void> {
    this.lastAppended.set(deploymentId, at);
    try {
      await this.handler.handle(deploymentId, {
        type: "RecordUse",
        at: new Date(at).toISOString(),
      }, { actor: "system:usage" });
    } catch (error) {
      logger.write("warn", "could not record deployment use", {
        deploymentId,
        error: (error as Error).message,
      });
    }
  }

  private now(): string {
    return this.clock.now().toISOString();
  }
}

function warmingUp(name: string, waitMs: number): DomainError {
  return new DomainError(
    "model_warming_up",
    `The deployment '${name}' is waking up and was not ready within ${
      Math.round(waitMs / 1000)
    } s; retry shortly.`,
    "model",
    WARMING_RETRY_AFTER_S,
  );
}

function aborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    const fail = () => reject(signal.reason ?? new Error("aborted"));
    if (signal.aborted) fail();
    else signal.addEventListener("abort", fail, { once: true });
  });
}
