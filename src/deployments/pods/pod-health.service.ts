import { Inject, Injectable } from "@nestjs/common";
import { CLOCK, type Clock } from "../../common/clock.ts";
import { OllamaClient } from "../../runpod/pod-proxy.ts";
import { RUNPOD_CONFIG, type RunpodConfig } from "../../runpod/runpod.config.ts";
import type { DeploymentStatus } from "../deployment.events.ts";
import { DeploymentsQueries } from "../deployments.queries.ts";
import { deploymentNotFound } from "../deployment.decider.ts";
import { DeploymentCommandHandler } from "../deployment.handler.ts";

/** The documented `GET /api/deployments/{id}/health` body. */
export interface DeploymentHealth {
  status: "healthy" | "unhealthy";
  timestamp: string;
  services: { ollama: string; webui: string };
  deployment_status: DeploymentStatus;
  /** How long this check took to get its answer (the Ollama probe when one is made). */
  response_time_ms: number;
  last_checked: string;
}

/**
 * ModelPilot's pods run the `ollama/ollama` image and expose only Ollama's port (11434/http,
 * pod-lifecycle.service.ts): no Open WebUI runs on them, so there is nothing to probe and the
 * truthful state is `not_deployed`, whatever the pod's status. Clients wanting a web UI point
 * any OpenAI-compatible one at the gateway.
 */
export const WEBUI_NOT_DEPLOYED = "not_deployed";

const SERVICE_WHEN_NOT_SERVING: Record<DeploymentStatus, string> = {
  pending: "starting",
  provisioning: "starting",
  pulling: "starting",
  running: "running",
  stopped: "stopped",
  failed: "failed",
  terminated: "terminated",
};

/**
 * Live health of a pod deployment: Ollama is asked through the pod proxy and timed. A change
 * of health is recorded as DeploymentHealthChanged (nothing is appended when it is unchanged).
 * `response_time_ms` is always a number: the probe's round trip while the pod serves, else
 * the time the check itself took (no probe is made of a pod that is not running).
 */
@Injectable()
export class PodHealthService {
  constructor(
    @Inject(DeploymentsQueries) private readonly queries: DeploymentsQueries,
    @Inject(DeploymentCommandHandler) private readonly handler: DeploymentCommandHandler,
    @Inject(RUNPOD_CONFIG) private readonly runpod: RunpodConfig,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  async check(accountId: string, id: string): Promise<DeploymentHealth> {
    const deployment = this.queries.get(accountId, id);
    if (!deployment || deployment.provider !== "runpod") throw deploymentNotFound(id);
    const started = performance.now();
    let ollama = SERVICE_WHEN_NOT_SERVING[deployment.status];
    // The event keeps its meaning (the probe's time, null when none was made).
    let probeMs: number | null = null;
    if ((deployment.status === "running" || deployment.status === "pulling") && deployment.podId) {
      const client = OllamaClient.forPod(this.runpod.podProxyTemplate, deployment.podId, {
        readyTimeoutMs: 5_000,
      });
      const ready = await client.isReady();
      probeMs = Math.round(performance.now() - started);
      ollama = ready ? "running" : "unreachable";
    }
    const responseTimeMs = probeMs ?? Math.round(performance.now() - started);
    const checkedAt = this.clock.now().toISOString();
    const healthy = deployment.status === "running" && ollama === "running";
    const services = { ollama, webui: WEBUI_NOT_DEPLOYED };
    if (deployment.status !== "terminated") {
      await this.handler.handle(id, {
        type: "RecordHealth",
        healthy,
        services,
        responseTimeMs: probeMs,
        at: checkedAt,
      }, { actor: "system:health" });
    }
    return {
      status: healthy ? "healthy" : "unhealthy",
      timestamp: checkedAt,
      services,
      deployment_status: deployment.status,
      response_time_ms: responseTimeMs,
      last_checked: checkedAt,
    };
  }
}
