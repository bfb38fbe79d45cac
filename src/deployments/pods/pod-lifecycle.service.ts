import { Inject, Injectable } from "@nestjs/common";
import type { Principal } from "../../auth/principal.ts";
import { ApiError } from "../../common/api-error.ts";
import { CLOCK, type Clock } from "../../common/clock.ts";
import { randomBase62 } from "../../common/ids.ts";
import { logger } from "../../common/json-logger.ts";
import { sleep } from "../../common/sleep.ts";
import { APP_CONFIG, type AppConfig } from "../../config/config.ts";
import { LedgerService } from "../../billing/ledger.service.ts";
import { type Pod, PodsClient } from "../../runpod/pods.client.ts";
import {
  RunpodConflict,
  RunpodError,
  RunpodNotFound,
  RunpodTimeout,
  RunpodUnavailable,
} from "../../runpod/runpod-http.ts";
import { minutePriceMicros } from "../deployment.decider.ts";
import { checkDeploymentName, textField } from "../deployment-fields.ts";
import type { PodStopReason } from "../deployment.events.ts";
import { DeploymentsQueries, type DeploymentView } from "../deployments.queries.ts";
import { DeploymentCommandHandler } from "./deployment.handler.ts";
import { PodProvisioner } from "./pod-provisioner.ts";
import { isNoCapacity, runpodApiError } from "./runpod-api-errors.ts";

export interface DeployPodInput {
  /** What Ollama pulls and serves, e.g. `mistral` or `llama3.2:3b`. */
  model: string;
  /** What clients pass as `model`; defaults to the model. */
  name: string;
  gpuTypeId: string;
}

export const OLLAMA_IMAGE = "ollama/ollama:latest";
export const POD_NAME_PREFIX = "modelpilot-";
const MODEL = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,255}$/;
const ACTIVE_STATUSES = new Set(["pending", "provisioning", "pulling", "running"]);

/**
 * User-facing pod actions: deploy, stop, start, delete. Each talks to RunPod first and records
 * only what RunPod confirmed, so a failed call leaves the deployment exactly as it was.
 */
@Injectable()
export class PodLifecycleService {
  constructor(
    @Inject(DeploymentCommandHandler) private readonly handler: DeploymentCommandHandler,
    @Inject(DeploymentsQueries) private readonly queries: DeploymentsQueries,
    @Inject(PodsClient) private readonly pods: PodsClient,
    @Inject(PodProvisioner) private readonly provisioner: PodProvisioner,
    @Inject(LedgerService) private readonly ledger: LedgerService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  /** Validates `POST /api/deployments` for pods; each failure is a 400 naming its field. */
  parse(body: Record<string, unknown>): DeployPodInput {
    const model = textField(body, "model", true);
    if (!MODEL.test(model)) {
      throw ApiError.badRequest(
        "Invalid 'model': expected an Ollama model name such as 'mistral:7b'.",
        "model",
        "invalid_value",
      );
    }
    const name = checkDeploymentName(textField(body, "name", false) ?? model);
    const gpuTypeId = textField(body, "gpu_type_id", false) ?? this.config.runpodDefaultGpu;
    return { model, name, gpuTypeId };
  }

  /** Rents the pod, records it, and leaves provisioning to run in the background. */
  async deploy(
    principal: Principal,
    input: DeployPodInput,
    requestId?: string,
  ): Promise<DeploymentView> {
    const existing = this.queries.resolve(principal.accountId, input.name);
    if (existing && existing.name === input.name) {
      throw ApiError.conflict(
        `A deployment named '${input.name}' already exists.`,
        "deployment_exists",
      );
    }
    const { availableMicros } = await this.ledger.balance(principal.accountId);
    if (availableMicros <= 0) {
      throw ApiError.insufficientCredits(
        "Add credits before deploying a pod: pods are billed per minute.",
      );
    }
    const pod = await this.createPod(input);
    let result;
    try {
      result = await this.handler.handle(pod.id, {
        type: "RequestPodDeployment",
        deploymentId: pod.id,
        accountId: principal.accountId,
        name: input.name,
        modelIdentifier: input.model,
        gpuTypeId: pod.gpu?.id ?? input.gpuTypeId,
        costPerHourUsd: pod.cost,
        at: this.now(),
      }, { actor: principal.actor, requestId });
    } catch (error) {
      // An unrecorded pod is never metered, reconciled or stopped, yet RunPod bills it: give it back.
      await this.pods.terminatePod(pod.id).catch((terminateError) =>
        logger.write("error", "could not terminate an unrecorded pod", {
          podId: pod.id,
          error: (terminateError as Error).message,
        })
      );
      throw error;
    }
    await this.queries.waitFor(result.position!);
    void this.provisioner.provision(pod.id);
    return this.queries.get(principal.accountId, pod.id)!;
  }

  async stop(principal: Principal, id: string, requestId?: string): Promise<DeploymentView> {
    const deployment = this.require(principal.accountId, id);
    if (!ACTIVE_STATUSES.has(deployment.status)) {
      throw invalidState(deployment, "stop");
    }
    await this.stopPod(deployment, "user", { actor: principal.actor, requestId });
    return this.queries.get(principal.accountId, id)!;
  }

  async start(principal: Principal, id: string, requestId?: string): Promise<DeploymentView> {
    const deployment = this.require(principal.accountId, id);
    if (deployment.status !== "stopped") throw invalidState(deployment, "start");
    const price = minutePriceMicros(deployment.costPerHourUsd ?? 0, this.config.podPriceMultiplier);
    const { availableMicros } = await this.ledger.balance(principal.accountId);
    if (availableMicros <= 0 || availableMicros < price) {
      throw ApiError.insufficientCredits(
        "Add credits before starting this pod: the balance does not cover one minute.",
      );
    }
    try {
      await this.pods.startPod(id);
    } catch (error) {
      if (error instanceof RunpodNotFound) throw await this.recordVanished(deployment, "start");
      if (!(error instanceof RunpodConflict)) throw runpodApiError(error, "start the pod");
      // Our retried start may have succeeded already; only a pod not starting is a conflict.
      const pod = await this.pods.getPod(id).catch((e) => {
        throw runpodApiError(e, "start the pod");
      });
      if (pod.status === "TERMINATED") throw await this.recordVanished(deployment, "start");
      if (!["PROVISIONING", "STARTING", "RUNNING"].includes(pod.status)) {
        throw runpodApiError(error, "start the pod");
      }
    }
    void this.provisioner.provision(id, { restart: true });
    logger.write("info", "pod start requested", { deploymentId: id, requestId });
    return this.queries.get(principal.accountId, id)!;
  }

  async terminate(principal: Principal, id: string, requestId?: string): Promise<DeploymentView> {
    const deployment = this.require(principal.accountId, id);
    if (deployment.status === "terminated") {
      throw ApiError.notFound(`No deployment found with id '${id}'.`, "deployment_not_found", "id");
    }
    const wasProvisioning = this.provisioner.isActive(id);
    await this.provisioner.cancel(id);
    try {
      await this.pods.terminatePod(id);
    } catch (error) {
      // Gone already, or already TERMINATED (a 409): either way the pod no longer exists.
      if (!(error instanceof RunpodNotFound) && !(error instanceof RunpodConflict)) {
        if (wasProvisioning) void this.provisioner.provision(id);
        throw runpodApiError(error, "terminate the pod");
      }
    }
    const result = await this.handler.handle(id, { type: "TerminatePod", at: this.now() }, {
      actor: principal.actor,
      requestId,
    });
    if (result.position !== undefined) await this.queries.waitFor(result.position);
    return this.queries.get(principal.accountId, id)!;
  }

  /**
   * Stops every active pod of an account (metering found the balance cannot cover the next
   * minute). A pod RunPod would not stop stays recorded as running and is tried again next tick.
   */
  async stopAccountPods(accountId: string, reason: PodStopReason, detail: string): Promise<void> {
    for (const deployment of this.queries.listForAccount(accountId)) {
      if (deployment.provider !== "runpod" || !ACTIVE_STATUSES.has(deployment.status)) continue;
      try {
        await this.stopPod(deployment, reason, { actor: "system:metering" }, detail);
      } catch (error) {
        logger.write("warn", "could not stop pod", {
          deploymentId: deployment.id,
          reason,
          error: (error as Error).message,
        });
      }
    }
  }

  private async stopPod(
    deployment: DeploymentView,
    reason: PodStopReason,
    metadata: { actor: string; requestId?: string },
    detail?: string,
  ): Promise<void> {
    const id = deployment.id;
    const wasProvisioning = this.provisioner.isActive(id);
    await this.provisioner.cancel(id);
    try {
      await this.pods.stopPod(id);
    } catch (error) {
      if (error instanceof RunpodNotFound) throw await this.recordVanished(deployment, "stop");
      let stopped = false;
      if (error instanceof RunpodConflict) {
        // 409: not stoppable now. Already EXITED (e.g. our retried stop succeeded) counts as done.
        const pod = await this.pods.getPod(id).catch(() => undefined);
        if (pod?.status === "TERMINATED") throw await this.recordVanished(deployment, "stop");
        stopped = pod?.status === "EXITED";
      }
      if (!stopped) {
        if (wasProvisioning) void this.provisioner.provision(id);
        throw runpodApiError(error, "stop the pod");
      }
    }
    const result = await this.handler.handle(id, {
      type: "StopPod",
      reason,
      ...(detail !== undefined ? { detail } : {}),
      at: this.now(),
    }, metadata);
    if (result.position !== undefined) await this.queries.waitFor(result.position);
  }

  /** RunPod has no such pod any more: record that truth and tell the caller. */
  private async recordVanished(deployment: DeploymentView, action: string): Promise<ApiError> {
    const result = await this.handler.handle(deployment.id, {
      type: "TerminatePod",
      at: this.now(),
    }, {
      actor: "system:lifecycle",
    });
    if (result.position !== undefined) await this.queries.waitFor(result.position);
    return new ApiError(
      409,
      `Cannot ${action}: the pod no longer exists on RunPod; the deployment is now terminated.`,
      {
        type: "invalid_request_error",
        code: "pod_terminated",
      },
    );
  }

  /**
   * `POST /pods` is not retried after a timeout or 5xx (a second pod would bill too): look for
   * the pod by its unique name instead, so a pod RunPod did create is never orphaned.
   */
  private async createPod(input: DeployPodInput): Promise<Pod> {
    const name = `${POD_NAME_PREFIX}${randomBase62(16).toLowerCase()}`;
    try {
      return await this.pods.createPod({
        name,
        image: OLLAMA_IMAGE,
        gpu: { id: input.gpuTypeId, count: 1 },
        ports: ["11434/http"],
        env: { OLLAMA_HOST: "0.0.0.0" },
        disk: 50,
      });
    } catch (error) {
      const ambiguous = error instanceof RunpodTimeout ||
        (error instanceof RunpodUnavailable && !isNoCapacity(error));
      if (!ambiguous) throw runpodApiError(error, "create the pod");
      for (let attempt = 0; attempt < 3; attempt++) {
        try {
          const found = (await this.pods.listPods()).find((p) => p.name === name);
          if (found) return found;
        } catch (listError) {
          if (!(listError instanceof RunpodError)) throw listError;
        }
        await sleep(250 * (attempt + 1));
      }
      throw runpodApiError(error, "create the pod");
    }
  }

  private require(accountId: string, id: string): DeploymentView {
    const deployment = this.queries.get(accountId, id);
    if (!deployment || deployment.provider !== "runpod") {
      throw ApiError.notFound(`No deployment found with id '${id}'.`, "deployment_not_found", "id");
    }
    return deployment;
  }

  private now(): string {
    return this.clock.now().toISOString();
  }
}

function invalidState(deployment: DeploymentView, action: string): ApiError {
  return new ApiError(
    409,
    `Cannot ${action} deployment '${deployment.id}': it is ${deployment.status}.`,
    {
      type: "invalid_request_error",
      code: "invalid_deployment_state",
    },
  );
}
