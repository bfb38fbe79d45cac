import { Inject, Injectable } from "@nestjs/common";
import type { Principal } from "../../auth/principal.ts";
import { ApiError } from "../../common/api-error.ts";
import { CLOCK, type Clock } from "../../common/clock.ts";
import { randomBase62 } from "../../common/ids.ts";
import { logger } from "../../common/json-logger.ts";
import { sleep } from "../../common/sleep.ts";
import { APP_CONFIG, type AppConfig } from "../../config/config.ts";
import { LedgerService } from "../../billing/ledger.service.ts";
import { GpuPriceTable } from "../../catalogue/gpu-prices.ts";
import { gpuTypePrice, type Pod, PodsClient, reportedPodCost } from "../../runpod/pods.client.ts";
import {
  RunpodConflict,
  RunpodError,
  RunpodNotFound,
  RunpodTimeout,
  RunpodUnavailable,
} from "../../runpod/runpod-http.ts";
import {
  deploymentNotFound,
  DeploymentRejected,
  isActive,
  minutePriceMicros,
} from "../deployment.decider.ts";
import { deploymentNameTaken } from "../deployment-names.ts";
import { optionalBoolean } from "../../common/body-fields.ts";
import {
  checkDeploymentName,
  refuseUnknownFields,
  SLEEP_FIELDS,
  sleepFields,
  textField,
} from "../deployment-fields.ts";
import type { DeploymentSleepSettings, PodStopReason } from "../deployment.events.ts";
import { DeploymentsQueries, type DeploymentView } from "../deployments.queries.ts";
import { DeploymentCommandHandler } from "../deployment.handler.ts";
import { podHoldReservationId, PodHolds } from "./pod-holds.ts";
import { PodProvisioner } from "./pod-provisioner.ts";
import { CLAIM_ABANDONED_MS, type PodSlotClaim, PodSlots } from "./pod-slots.ts";
import { isNoCapacity, runpodApiError } from "./runpod-api-errors.ts";

export interface DeployPodInput {
  /** What Ollama pulls and serves, e.g. `mistral` or `llama3.2:3b`. */
  model: string;
  /** What clients pass as `model`; defaults to the model. */
  name: string;
  gpuTypeId: string;
  /** Declared to speak the realtime protocol (`"realtime": true`). */
  realtime?: boolean;
  /** idle_timeout_s, wake_on_request, max_spend_usd (absent: never sleeps). */
  sleep?: DeploymentSleepSettings;
}

export const OLLAMA_IMAGE = "ollama/ollama:latest";
export const POD_NAME_PREFIX = "modelpilot-";
const MODEL = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,255}$/;
/** Every field `POST /api/deployments` takes for a pod (`provider` defaults to `runpod`). */
export const POD_DEPLOYMENT_FIELDS = [
  "provider",
  "model",
  "name",
  "gpu_type_id",
  "realtime",
  ...SLEEP_FIELDS,
] as const;
/**
 * The hold outlives its prepaid window by this much, so metering that runs late (or a gateway
 * restarted within the hour) still settles it; past that the hold-expiry process releases it and
 * the prepaid minutes are charged from the balance instead.
 */
const HOLD_MARGIN_MS = 60 * 60_000;
/** RunPod's GPU catalogue gets this long before the price table answers instead. */
const QUOTE_TIMEOUT_MS = 5_000;

/**
 * User-facing pod actions: deploy, stop, start, delete. Each talks to RunPod first and records
 * only what RunPod confirmed, so a failed call leaves the deployment exactly as it was. It runs
 * past 350 lines on purpose: each action's RunPod call, its recovery (ambiguous create, vanished
 * pod, conflicting stop, a pod replaced when it cannot come back) and its roll-back are read
 * together.
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
    @Inject(GpuPriceTable) private readonly gpuPrices: GpuPriceTable,
    @Inject(PodSlots) private readonly slots: PodSlots,
    @Inject(PodHolds) private readonly holds: PodHolds,
  ) {}

  /** Validates `POST /api/deployments` for pods; each failure is a 400 naming its field. */
  parse(body: Record<string, unknown>): DeployPodInput {
    refuseUnknownFields(body, POD_DEPLOYMENT_FIELDS);
    const model = textField(body, "model", true, 256);
    if (!MODEL.test(model)) {
      throw ApiError.badRequest(
        "Invalid 'model': expected an Ollama model name such as 'mistral:7b'.",
        "model",
        "invalid_value",
      );
    }
    const name = checkDeploymentName(textField(body, "name", false, 128) ?? model);
    const gpuTypeId = textField(body, "gpu_type_id", false, 128) ?? this.config.runpodDefaultGpu;
    if (!this.config.runpodAllowedGpus.includes(gpuTypeId)) {
      throw ApiError.badRequest(
        `Invalid 'gpu_type_id': ${JSON.stringify(gpuTypeId)} is not offered here. Choose one of: ${
          this.config.runpodAllowedGpus.join(", ")
        }.`,
        "gpu_type_id",
        "gpu_not_allowed",
      );
    }
    const realtime = optionalBoolean(body, "realtime");
    const { idleTimeoutS, wakeOnRequest, maxSpendMicros } = sleepFields(body);
    const sleep: DeploymentSleepSettings = {
      ...(idleTimeoutS != null ? { idleTimeoutS } : {}),
      ...(wakeOnRequest !== undefined ? { wakeOnRequest } : {}),
      ...(maxSpendMicros != null ? { maxSpendMicros } : {}),
    };
    return {
      model,
      name,
      gpuTypeId,
      ...(realtime ? { realtime: true } : {}),
      ...(Object.keys(sleep).length ? { sleep } : {}),
    };
  }

  /** Rents the pod, records it, and leaves provisioning to run in the background. */
  async deploy(
    principal: Principal,
    input: DeployPodInput,
    requestId?: string,
  ): Promise<DeploymentView> {
    const accountId = principal.accountId;
    // A cheap first refusal, and the only one for deployments older than name claims; the claim
    // below is the race-free one.
    if (this.queries.hasName(accountId, input.name)) throw deploymentNameTaken(input.name);
    const minutes = this.config.podMinPrepaidMinutes;
    const holdFor = (usdPerHour: number) =>
      minutePriceMicros(usdPerHour, this.config.podPriceMultiplier) * minutes;
    // A cheap first refusal, before RunPod is asked anything or anything is appended: the price
    // table is a conservative estimate. The binding check is the ledger hold below.
    const { availableMicros } = await this.ledger.balance(accountId);
    const estimate = this.gpuPrices.priceUsd(input.gpuTypeId);
    if (availableMicros <= 0 || (estimate !== undefined && availableMicros < holdFor(estimate))) {
      throw insufficientForPod(minutes);
    }
    const quote = await this.quoteGpu(input.gpuTypeId);
    const holdMicros = holdFor(quote);
    if (availableMicros < holdMicros) throw insufficientForPod(minutes);

    // The slot first (race-free cap), then the hold (race-free credit), then the pod, then its name
    // (race-free uniqueness; a name taken meanwhile gives the pod back).
    const claimId = randomBase62(20);
    const metadata = { actor: principal.actor, requestId };
    await this.slots.claim(
      { accountId, claimId, maxPods: this.config.maxPodsPerAccount, at: this.now() },
      () => this.existingPods(accountId),
      (claim) => this.slotIsFree(claim),
      metadata,
    );
    const reservationId = podHoldReservationId(claimId);
    const undo: Array<() => Promise<unknown>> = [
      () => this.slots.release(accountId, claimId, "deploy_failed", this.now()),
    ];
    const rollBack = async () => {
      for (const step of undo.reverse()) {
        await step().catch((error) =>
          logger.write("error", "could not roll back a refused deploy", {
            claimId,
            error: (error as Error).message,
          })
        );
      }
    };
    let pod: Pod;
    try {
      await this.ledger.reserve(accountId, {
        reservationId,
        amountMicros: holdMicros,
        reference: `pod_deploy:${claimId}`,
        model: input.model,
        expiresAt: new Date(this.clock.now().getTime() + minutes * 60_000 + HOLD_MARGIN_MS),
      }, metadata);
      undo.push(() =>
        this.ledger.release(accountId, { reservationId, reason: "deploy_failed" }, metadata)
      );
      pod = await this.createPod(input);
      // An unrecorded pod is never metered, reconciled or stopped, yet RunPod bills it: give it back.
      undo.push(() => this.pods.terminatePod(pod.id));
    } catch (error) {
      await rollBack();
      throw error;
    }
    let result;
    try {
      const cost = await this.podCostPerHour(pod.id, pod);
      if (cost === undefined) {
        throw unpricedPod(
          "the new pod, so it cannot be billed; it was terminated and nothing was charged",
        );
      }
      await this.slots.bind(accountId, claimId, pod.id);
      const name = { accountId, name: input.name, deploymentId: pod.id };
      await this.handler.claimName(name, this.now(), metadata);
      undo.push(() => this.handler.releaseName(name, "request_failed", this.now(), metadata));
      result = await this.handler.handle(pod.id, {
        type: "RequestPodDeployment",
        deploymentId: pod.id,
        accountId,
        name: input.name,
        modelIdentifier: input.model,
        gpuTypeId: pod.gpu?.id ?? input.gpuTypeId,
        costPerHourUsd: cost,
        at: this.now(),
        prepaidHold: { reservationId, amountMicros: holdMicros, minutes },
        quotedCostPerHourUsd: quote,
        slotClaimId: claimId,
        ...(input.realtime ? { realtime: true } : {}),
        ...(input.sleep ? { sleep: input.sleep } : {}),
      }, metadata);
    } catch (error) {
      await rollBack();
      throw error;
    }
    await this.queries.waitFor(result.position!);
    void this.provisioner.provision(pod.id);
    return this.queries.get(principal.accountId, pod.id)!;
  }

  async stop(principal: Principal, id: string, requestId?: string): Promise<DeploymentView> {
    const deployment = this.require(principal.accountId, id);
    if (!isActive(deployment)) throw invalidState(deployment, "stop");
    await this.stopPod(deployment, "user", { actor: principal.actor, requestId });
    return this.queries.get(principal.accountId, id)!;
  }

  async start(principal: Principal, id: string, requestId?: string): Promise<DeploymentView> {
    return await this.startStopped(principal.accountId, id, {
      actor: principal.actor,
      requestId,
    });
  }

  /**
   * Starts a stopped pod (the start route, and a wake on request): the earlier hold settled, the
   * price re-read, one minute covered. When RunPod has no free GPU for it on its machine, or
   * brings it back without one, the deployment moves to a new pod (replacePod).
   */
  async startStopped(
    accountId: string,
    id: string,
    metadata: { actor: string; requestId?: string },
  ): Promise<DeploymentView> {
    const principal = { accountId, actor: metadata.actor };
    const requestId = metadata.requestId;
    const deployment = this.require(principal.accountId, id);
    if (deployment.status !== "stopped") throw invalidState(deployment, "start");
    const podId = deployment.podId ?? id;
    const { state } = await this.handler.load(id);
    // Minutes before the stop stay on the deploy's hold: settle it before the pod runs again.
    if (!(await this.holds.settle(id, state))) {
      throw ApiError.insufficientCredits(
        "Add credits before starting this pod: its earlier minutes are not paid for yet.",
      );
    }
    const lastPrice = Math.max(
      deployment.costPerHourUsd ?? 0,
      this.gpuPrices.priceUsd(deployment.gpuTypeId ?? "") ?? 0,
    );
    const price = minutePriceMicros(lastPrice, this.config.podPriceMultiplier);
    const { availableMicros } = await this.ledger.balance(principal.accountId);
    if (availableMicros <= 0 || availableMicros < price) {
      throw ApiError.insufficientCredits(
        "Add credits before starting this pod: the balance does not cover one minute.",
      );
    }
    let startedPod: Pod | undefined;
    try {
      startedPod = await this.pods.startPod(podId);
    } catch (error) {
      if (error instanceof RunpodNotFound) throw await this.recordVanished(deployment, "start");
      if (error instanceof RunpodError && isNoCapacity(error)) {
        return await this.replacePod(
          deployment,
          `RunPod could not start the pod: ${error.detail}`,
          {
            actor: principal.actor,
            requestId,
          },
        );
      }
      if (!(error instanceof RunpodConflict)) throw runpodApiError(error, "start the pod");
      // Our retried start may have succeeded already; only a pod not starting is a conflict.
      const pod = await this.pods.getPod(podId).catch((e) => {
        throw runpodApiError(e, "start the pod");
      });
      if (pod.status === "TERMINATED") throw await this.recordVanished(deployment, "start");
      if (!["PROVISIONING", "STARTING", "RUNNING"].includes(pod.status)) {
        throw runpodApiError(error, "start the pod");
      }
      startedPod = pod;
    }
    if (startedPod.gpu && startedPod.gpu.count === 0) {
      // The machine gave its GPU away while the pod was stopped: it would serve nothing.
      await this.pods.stopPod(podId).catch(() => undefined);
      return await this.replacePod(deployment, "RunPod restarted the pod without a GPU.", {
        actor: principal.actor,
        requestId,
      });
    }
    // The restarted pod may run on another machine at another price: meter what RunPod says now.
    const cost = await this.podCostPerHour(podId, startedPod);
    if (cost === undefined) {
      await this.pods.stopPod(podId).catch(() => undefined);
      throw unpricedPod("the restarted pod, so it cannot be billed; it was stopped");
    }
    const resumed = await this.handler.handle(id, {
      type: "ResumePod",
      costPerHourUsd: cost,
      at: this.now(),
    }, { actor: principal.actor, requestId });
    if (resumed.position !== undefined) await this.queries.waitFor(resumed.position);
    void this.provisioner.provision(id, { restart: true });
    logger.write("info", "pod start requested", { deploymentId: id, requestId });
    return this.queries.get(principal.accountId, id)!;
  }

  /** `PATCH /api/deployments/{id}`: idle_timeout_s, wake_on_request, max_spend_usd (null clears). */
  async changeSleep(
    principal: Principal,
    id: string,
    body: unknown,
    requestId?: string,
  ): Promise<DeploymentView> {
    refuseUnknownFields(body, SLEEP_FIELDS);
    const changes = sleepFields((body ?? {}) as Record<string, unknown>, true);
    if (Object.keys(changes).length === 0) {
      throw ApiError.badRequest(
        `Nothing to change: send one of ${SLEEP_FIELDS.join(", ")}.`,
        null,
        "missing_required_parameter",
      );
    }
    const deployment = this.require(principal.accountId, id);
    if (deployment.status === "terminated") throw deploymentNotFound(id);
    const result = await this.handler.handle(id, {
      type: "ChangeSleepSettings",
      ...changes,
      at: this.now(),
    }, { actor: principal.actor, requestId });
    if (result.position !== undefined) await this.queries.waitFor(result.position);
    return this.queries.get(principal.accountId, id)!;
  }

  async terminate(principal: Principal, id: string, requestId?: string): Promise<DeploymentView> {
    const deployment = this.require(principal.accountId, id);
    if (deployment.status === "terminated") throw deploymentNotFound(id);
    const wasProvisioning = this.provisioner.isActive(id);
    await this.provisioner.cancel(id);
    try {
      await this.pods.terminatePod(deployment.podId ?? id);
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
      if (deployment.provider !== "runpod" || !isActive(deployment)) continue;
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

  /** Stops one pod for a system reason (idle sweep, spend cap); see stopAccountPods. */
  async stopFor(deployment: DeploymentView, reason: PodStopReason, detail: string): Promise<void> {
    await this.stopPod(deployment, reason, { actor: `system:${reason}` }, detail);
  }

  private async stopPod(
    deployment: DeploymentView,
    reason: PodStopReason,
    metadata: { actor: string; requestId?: string },
    detail?: string,
  ): Promise<void> {
    const id = deployment.id;
    const podId = deployment.podId ?? id;
    const wasProvisioning = this.provisioner.isActive(id);
    await this.provisioner.cancel(id);
    try {
      await this.pods.stopPod(podId);
    } catch (error) {
      if (error instanceof RunpodNotFound) throw await this.recordVanished(deployment, "stop");
      let stopped = false;
      if (error instanceof RunpodConflict) {
        // 409: not stoppable now. Already EXITED (e.g. our retried stop succeeded) counts as done.
        const pod = await this.pods.getPod(podId).catch(() => undefined);
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

  /** Metering found a pod with no usable price (an old stream): it must not run free. */
  async stopForMissingPrice(id: string): Promise<void> {
    const { state } = await this.handler.load(id);
    const deployment = state.accountId ? this.queries.get(state.accountId, id) : undefined;
    if (!deployment || !isActive(deployment)) return;
    await this.stopPod(
      deployment,
      "failed",
      { actor: "system:metering" },
      "RunPod reported no usable price for this pod.",
    );
  }

  /**
   * The stopped pod cannot come back on its machine (no free GPU there, or restarted without
   * one): rent a new pod with the same image and model under a new prepaid hold, record
   * PodReplaced on the SAME deployment (its id and name keep working), terminate the old pod and
   * provision the new one. The old pod's volume stays on its machine: the model is pulled again.
   */
  private async replacePod(
    deployment: DeploymentView,
    reason: string,
    metadata: { actor: string; requestId?: string },
  ): Promise<DeploymentView> {
    const { id, accountId } = deployment;
    const oldPodId = deployment.podId ?? id;
    const gpuTypeId = deployment.gpuTypeId ?? this.config.runpodDefaultGpu;
    const minutes = this.config.podMinPrepaidMinutes;
    const quote = await this.quoteGpu(gpuTypeId);
    const holdMicros = minutePriceMicros(quote, this.config.podPriceMultiplier) * minutes;
    const reservationId = podHoldReservationId(randomBase62(20));
    const release = () =>
      this.ledger.release(accountId, { reservationId, reason: "deploy_failed" }, metadata)
        .catch(() => undefined);
    await this.ledger.reserve(accountId, {
      reservationId,
      amountMicros: holdMicros,
      reference: `pod_replace:${id}`,
      model: deployment.modelIdentifier,
      expiresAt: new Date(this.clock.now().getTime() + minutes * 60_000 + HOLD_MARGIN_MS),
    }, metadata);
    let pod: Pod;
    try {
      pod = await this.createPod({
        model: deployment.modelIdentifier,
        name: deployment.name,
        gpuTypeId,
      });
    } catch (error) {
      await release();
      throw error;
    }
    try {
      const cost = await this.podCostPerHour(pod.id, pod);
      if (cost === undefined) throw unpricedPod("the replacement pod; it was terminated");
      const result = await this.handler.handle(id, {
        type: "ReplacePod",
        newPodId: pod.id,
        gpuTypeId: pod.gpu?.id ?? gpuTypeId,
        costPerHourUsd: cost,
        reason,
        at: this.now(),
        prepaidHold: { reservationId, amountMicros: holdMicros, minutes },
        quotedCostPerHourUsd: quote,
      }, metadata);
      if (result.position !== undefined) await this.queries.waitFor(result.position);
    } catch (error) {
      await this.pods.terminatePod(pod.id).catch(() => undefined);
      await release();
      throw error;
    }
    await this.pods.terminatePod(oldPodId).catch((error) =>
      logger.write("error", "could not terminate a replaced pod; terminate it on RunPod", {
        deploymentId: id,
        podId: oldPodId,
        error: (error as Error).message,
      })
    );
    logger.write("info", "pod replaced", { deploymentId: id, oldPodId, newPodId: pod.id, reason });
    void this.provisioner.provision(id);
    return this.queries.get(accountId, id)!;
  }

  /** What RunPod bills per hour for a pod it just created or started, read back once if unsaid. */
  private async podCostPerHour(podId: string, answer: Pod): Promise<number | undefined> {
    return reportedPodCost(answer) ??
      reportedPodCost(await this.pods.getPod(podId).catch(() => undefined));
  }

  /** RunPod GPU catalogue price (USD per GPU-hour) when it answers, else the price table. */
  private async quoteGpu(gpuTypeId: string): Promise<number> {
    try {
      const price = gpuTypePrice(
        await this.pods.getGpuType(gpuTypeId, AbortSignal.timeout(QUOTE_TIMEOUT_MS)),
      );
      if (price !== undefined) return price;
    } catch (error) {
      logger.write("info", "RunPod GPU catalogue did not answer; using the price table", {
        gpuTypeId,
        error: (error as Error).message,
      });
    }
    const price = this.gpuPrices.priceUsd(gpuTypeId);
    if (price !== undefined) return price;
    throw new ApiError(
      503,
      `No price is known for '${gpuTypeId}' (RunPod's catalogue did not give one, and the price ` +
        "table has none), so it cannot be deployed now.",
      { type: "api_error", param: "gpu_type_id", code: "gpu_price_unknown" },
    );
  }

  /** Pods deployed before per-account slots existed, adopted on the account's first claim. */
  private existingPods(accountId: string): string[] {
    return this.queries.listForAccount(accountId)
      .filter((d) => d.provider === "runpod" && d.podId !== undefined && d.status !== "terminated")
      .map((d) => d.id);
  }

  /** A slot is free once its pod is gone, or when its deploy died before recording one. */
  private async slotIsFree(claim: PodSlotClaim): Promise<boolean> {
    const abandoned = this.clock.now().getTime() - Date.parse(claim.claimedAt) > CLAIM_ABANDONED_MS;
    if (!claim.deploymentId) return abandoned;
    const { state } = await this.handler.load(claim.deploymentId);
    return state.podGone || (state.status === "none" && abandoned);
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
    if (!deployment || deployment.provider !== "runpod") throw deploymentNotFound(id);
    return deployment;
  }

  private now(): string {
    return this.clock.now().toISOString();
  }
}

function insufficientForPod(minutes: number): ApiError {
  return ApiError.insufficientCredits(
    `Add credits before deploying a pod: a deploy holds ${minutes} minutes of the GPU's price, ` +
      "and the available balance does not cover them.",
  );
}

function invalidState(deployment: DeploymentView, action: string): DeploymentRejected {
  return new DeploymentRejected(
    "invalid_deployment_state",
    `Cannot ${action} deployment '${deployment.id}': it is ${deployment.status}.`,
  );
}

/** A pod RunPod gave no price for cannot be metered, so it is never kept running. */
function unpricedPod(whatHappened: string): ApiError {
  return new ApiError(502, `RunPod reported no price for ${whatHappened}.`, {
    type: "api_error",
    code: "runpod_invalid_price",
  });
}
