import {
  Inject,
  Injectable,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from "@nestjs/common";
import { CLOCK, type Clock } from "../../common/clock.ts";
import { logger } from "../../common/json-logger.ts";
import { sleep } from "../../common/sleep.ts";
import { OLLAMA_PORT, OllamaClient, OllamaError, podProxyUrl } from "../../runpod/pod-proxy.ts";
import { type Pod, PodsClient, reportedPodCost } from "../../runpod/pods.client.ts";
import { RUNPOD_CONFIG, type RunpodConfig } from "../../runpod/runpod.config.ts";
import { RunpodError, RunpodNotFound } from "../../runpod/runpod-http.ts";
import { DeploymentRejected, type DeploymentState } from "../deployment.decider.ts";
import { DeploymentCommandHandler } from "../deployment.handler.ts";
import { PodDeploymentsQueries } from "./pod-deployments.queries.ts";

export interface ProvisionerOptions {
  /** A pod that is not serving the model within this long is given up (terminated). */
  readyTimeoutMs: number;
  /** First wait between polls; grows ×1.5 up to maxPollIntervalMs. */
  pollIntervalMs: number;
  maxPollIntervalMs: number;
  /** A pull fails when no progress line arrives for this long (the proxy cuts at 100 s). */
  pullIdleTimeoutMs: number;
  pullAttempts: number;
}

export const DEFAULT_PROVISIONER_OPTIONS: ProvisionerOptions = {
  readyTimeoutMs: 20 * 60_000,
  pollIntervalMs: 100,
  maxPollIntervalMs: 5_000,
  pullIdleTimeoutMs: 90_000,
  pullAttempts: 3,
};

/** Services reported while the pod serves: Ollama only (ModelPilot pods run no web UI). */
export const SERVING_SERVICES = { ollama: "running", webui: "not_deployed" } as const;

const IN_PROGRESS: ReadonlyArray<DeploymentState["status"]> = [
  "pending",
  "provisioning",
  "pulling",
];

/**
 * Brings a rented (or restarted) pod to serving: waits for RunPod to report RUNNING, then for
 * Ollama to answer through the proxy (a RUNNING pod is not yet ready), pulls the model with a
 * streamed `/api/pull`, then appends ModelPulled and PodStarted. Runs in the background after
 * the 202; on start-up it resumes every deployment the read model shows as in progress.
 */
@Injectable()
export class PodProvisioner implements OnApplicationBootstrap, OnApplicationShutdown {
  private options: ProvisionerOptions = { ...DEFAULT_PROVISIONER_OPTIONS };
  private readonly active = new Map<string, { controller: AbortController; done: Promise<void> }>();
  private closed = false;

  constructor(
    @Inject(DeploymentCommandHandler) private readonly handler: DeploymentCommandHandler,
    @Inject(PodsClient) private readonly pods: PodsClient,
    @Inject(RUNPOD_CONFIG) private readonly runpod: RunpodConfig,
    @Inject(PodDeploymentsQueries) private readonly queries: PodDeploymentsQueries,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  /** Test hook: shorter timeouts. */
  configure(options: Partial<ProvisionerOptions>): this {
    this.options = { ...this.options, ...options };
    return this;
  }

  onApplicationBootstrap(): void {
    void this.resumeAll().catch((error) =>
      logger.write("warn", "provisioner resume failed", { error: (error as Error).message })
    );
  }

  async onApplicationShutdown(): Promise<void> {
    this.closed = true;
    for (const { controller } of this.active.values()) controller.abort();
    await Promise.allSettled([...this.active.values()].map((a) => a.done));
  }

  /** Resumes every deployment that was being provisioned when the process stopped. */
  async resumeAll(): Promise<void> {
    await this.queries.catchUp();
    for (const row of this.queries.withStatus(["pending", "provisioning", "pulling"])) {
      this.provision(row.id);
    }
  }

  isActive(deploymentId: string): boolean {
    return this.active.has(deploymentId);
  }

  /** Starts (or joins) the background provisioning of a deployment; resolves when it ends. */
  provision(deploymentId: string, options: { restart?: boolean } = {}): Promise<void> {
    const running = this.active.get(deploymentId);
    if (running) return running.done;
    if (this.closed) return Promise.resolve();
    const controller = new AbortController();
    const done = this.drive(deploymentId, options.restart === true, controller.signal)
      .catch((error) => {
        if (controller.signal.aborted || error instanceof DeploymentRejected) return;
        logger.write("warn", "pod provisioning failed", {
          deploymentId,
          error: (error as Error).message,
        });
      })
      .finally(() => this.active.delete(deploymentId));
    this.active.set(deploymentId, { controller, done });
    return done;
  }

  /** Stops provisioning a deployment (user stop or delete); resolves once it has stopped. */
  async cancel(deploymentId: string): Promise<void> {
    const running = this.active.get(deploymentId);
    if (!running) return;
    running.controller.abort();
    await running.done;
  }

  private async drive(deploymentId: string, restart: boolean, signal: AbortSignal): Promise<void> {
    const { state } = await this.handler.load(deploymentId);
    const resumable = IN_PROGRESS.includes(state.status) || (restart && state.status === "stopped");
    if (!resumable || !state.podId || !state.modelIdentifier) return;
    const podId = state.podId;
    if (state.status === "stopped") {
      // Started from RunPod's console (a gateway start records PodResumed itself): billed from
      // now, at the price RunPod reports after the start; a pod without one does not run.
      const pod = await this.pods.getPod(podId, signal);
      const cost = reportedPodCost(pod);
      if (cost === undefined) {
        await this.pods.stopPod(podId, signal).catch(() => undefined);
        logger.write("error", "restarted pod has no usable price; stopped it", { deploymentId });
        return;
      }
      await this.handler.handle(deploymentId, {
        type: "ResumePod",
        costPerHourUsd: cost,
        at: this.now(),
      }, { actor: "system:provisioner" });
    }
    const deadline = Date.now() + this.options.readyTimeoutMs;
    const ollama = OllamaClient.forPod(this.runpod.podProxyTemplate, podId, {
      pullIdleTimeoutMs: this.options.pullIdleTimeoutMs,
    });
    let wait = this.options.pollIntervalMs;
    const pause = async () => {
      await sleep(wait, signal);
      wait = Math.min(this.options.maxPollIntervalMs, Math.round(wait * 1.5));
    };

    // 1. RunPod reports RUNNING and Ollama answers through the proxy.
    let lastStatus = "unknown";
    for (;;) {
      signal.throwIfAborted();
      if (Date.now() > deadline) {
        return await this.giveUp(
          deploymentId,
          podId,
          `The pod was not ready within ${Math.round(this.options.readyTimeoutMs / 1000)} s ` +
            `(RunPod status: ${lastStatus}).`,
        );
      }
      let pod: Pod | undefined;
      try {
        pod = await this.pods.getPod(podId, signal);
      } catch (error) {
        if (error instanceof RunpodNotFound) {
          await this.handler.handle(deploymentId, {
            type: "FailDeployment",
            reason: "The pod no longer exists on RunPod.",
            podStopped: false,
            podTerminated: true,
            at: this.now(),
          }, { actor: "system:provisioner" });
          return;
        }
        if (!(error instanceof RunpodError)) throw error;
        // Transient RunPod trouble: keep polling until the deadline.
      }
      if (pod) {
        lastStatus = pod.status;
        if (pod.status === "TERMINATED") {
          await this.handler.handle(deploymentId, {
            type: "FailDeployment",
            reason: "The pod was terminated outside ModelPilot while starting.",
            podStopped: false,
            podTerminated: true,
            at: this.now(),
          }, { actor: "system:provisioner" });
          return;
        }
        if (pod.status === "EXITED" || pod.status === "ERROR") {
          // Stopped behind our back (or by a user stop on another instance): nothing to serve.
          await this.handler.handle(deploymentId, {
            type: "StopPod",
            reason: "external",
            detail: `RunPod reports the pod ${pod.status} while it was starting.`,
            at: this.now(),
          }, { actor: "system:provisioner" });
          return;
        }
        if (pod.status === "RUNNING") {
          const started = performance.now();
          if (await ollama.isReady(signal)) {
            await this.handler.handle(deploymentId, {
              type: "RecordHealth",
              healthy: true,
              services: { ...SERVING_SERVICES },
              responseTimeMs: Math.round(performance.now() - started),
              at: this.now(),
            }, { actor: "system:provisioner" });
            break;
          }
        }
      }
      await pause();
    }

    // 2. The model, pulled with a streamed /api/pull unless the pod already has it.
    const model = state.modelIdentifier;
    for (let attempt = 1;; attempt++) {
      signal.throwIfAborted();
      try {
        const tags = await ollama.tags(signal);
        if (!tags.some((t) => sameModel(t.name, model) || sameModel(t.model, model))) {
          await ollama.pull(model, undefined, signal);
        }
        break;
      } catch (error) {
        if (signal.aborted) throw error;
        const refused = error instanceof OllamaError && error.status !== null &&
          error.status < 500 &&
          error.status !== 429;
        if (refused || attempt >= this.options.pullAttempts || Date.now() > deadline) {
          await this.giveUp(
            deploymentId,
            podId,
            `Pulling '${model}' failed: ${(error as Error).message}`,
          );
          return;
        }
        await pause();
      }
    }

    // 3. Serving: recorded only while RunPod still reports the pod RUNNING.
    signal.throwIfAborted();
    const pod = await this.pods.getPod(podId, signal);
    if (pod.status !== "RUNNING") return;
    await this.handler.handle(deploymentId, {
      type: "MarkModelPulled",
      modelIdentifier: model,
      at: this.now(),
    }, {
      actor: "system:provisioner",
    });
    await this.handler.handle(deploymentId, {
      type: "MarkPodStarted",
      baseUrl: `${podProxyUrl(this.runpod.podProxyTemplate, podId, OLLAMA_PORT)}/v1`,
      at: this.now(),
    }, { actor: "system:provisioner" });
  }

  /**
   * A pod that never became ready or cannot pull its model: terminate it (it serves nothing, and a
   * stopped pod's disk would keep costing) and record the failure. When the terminate fails the
   * failure says so, and the reconciler terminates the pod on a later pass.
   */
  private async giveUp(deploymentId: string, podId: string, reason: string): Promise<void> {
    let terminated = false;
    try {
      await this.pods.terminatePod(podId);
      terminated = true;
    } catch (error) {
      terminated = error instanceof RunpodNotFound;
    }
    await this.handler.handle(deploymentId, {
      type: "FailDeployment",
      reason: terminated
        ? `${reason} The pod was terminated.`
        : `${reason} Terminating the pod failed.`,
      podStopped: false,
      podTerminated: terminated,
      at: this.now(),
    }, { actor: "system:provisioner" });
  }

  private now(): string {
    return this.clock.now().toISOString();
  }
}

export function sameModel(a: string | undefined, b: string): boolean {
  if (!a) return false;
  const norm = (name: string) => (name.includes(":") ? name : `${name}:latest`);
  return norm(a) === norm(b);
}
