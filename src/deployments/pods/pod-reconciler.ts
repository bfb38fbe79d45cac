import {
  Inject,
  Injectable,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from "@nestjs/common";
import { CLOCK, type Clock } from "../../common/clock.ts";
import { logger } from "../../common/json-logger.ts";
import { PeriodicSweep } from "../../common/repeat.ts";
import { APP_CONFIG, type AppConfig, runsSharedSweeps } from "../../config/config.ts";
import { type Pod, PodsClient } from "../../runpod/pods.client.ts";
import { RunpodError, RunpodNotFound } from "../../runpod/runpod-http.ts";
import { DeploymentCommandHandler } from "../deployment.handler.ts";
import { PodDeploymentsQueries } from "./pod-deployments.queries.ts";
import { PodProvisioner } from "./pod-provisioner.ts";

export interface ReconcileReport {
  checked: number;
  /** Deployments whose events changed in this pass. */
  changed: string[];
}

/**
 * Compares every live deployment with RunPod's view and records what changed behind the
 * gateway's back: a pod that died or was stopped from the console → PodStopped `external`; a
 * pod that is gone → PodTerminated; a pod started from the console → provisioning resumes.
 * State lives in the event store only, so it survives restarts; appends carry the expected
 * revision, so two instances reconciling at once record each change once.
 */
@Injectable()
export class PodReconciler implements OnApplicationBootstrap, OnApplicationShutdown {
  /** Aborted at shutdown: RunPod calls in flight end, and the pass with them. */
  private readonly loop = new AbortController();
  private readonly sweepsHere: boolean;
  private readonly passes: PeriodicSweep<ReconcileReport>;
  /** Failed deployments whose pod is known gone: their streams are not read again each pass. */
  private readonly failedAndGone = new Set<string>();

  constructor(
    @Inject(PodDeploymentsQueries) private readonly queries: PodDeploymentsQueries,
    @Inject(DeploymentCommandHandler) private readonly handler: DeploymentCommandHandler,
    @Inject(PodsClient) private readonly pods: PodsClient,
    @Inject(PodProvisioner) private readonly provisioner: PodProvisioner,
    @Inject(APP_CONFIG) config: AppConfig,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {
    this.sweepsHere = runsSharedSweeps(config);
    this.passes = new PeriodicSweep(
      config.reconcileIntervalMs,
      () => this.pass(),
      (error) => logger.write("warn", "reconcile failed", { error: (error as Error).message }),
    );
  }

  onApplicationBootstrap(): void {
    // The first pass runs one interval after boot, so start-up is not slowed by RunPod calls.
    if (this.sweepsHere) this.passes.start({ firstSweepNow: false });
  }

  async onApplicationShutdown(): Promise<void> {
    this.loop.abort();
    await this.passes.stop();
  }

  /** One pass (the loop calls this; tests call it directly). Concurrent calls share a pass. */
  reconcileNow(): Promise<ReconcileReport> {
    return this.passes.run();
  }

  private async pass(): Promise<ReconcileReport> {
    await this.queries.catchUp();
    const rows = this.queries.withStatus([
      "pending",
      "provisioning",
      "pulling",
      "running",
      "stopped",
      "failed",
    ]);
    const changed: string[] = [];
    for (const row of rows) {
      // A failed deployment whose pod is known gone needs nothing; one whose terminate failed
      // (or an older one kept stopped "for inspection") still costs storage: terminate it.
      if (row.status === "failed") {
        if (this.failedAndGone.has(row.id)) continue;
        if ((await this.handler.load(row.id)).state.podGone) {
          this.failedAndGone.add(row.id);
          continue;
        }
      }
      let pod: Pod | undefined;
      try {
        pod = await this.pods.getPod(row.podId, this.loop.signal);
      } catch (error) {
        if (this.loop.signal.aborted) break;
        if (!(error instanceof RunpodNotFound)) {
          if (!(error instanceof RunpodError)) throw error;
          continue; // RunPod unsure: decide nothing this pass.
        }
      }
      const at = this.clock.now().toISOString();
      const metadata = { actor: "system:reconciler" };
      if (!pod || pod.status === "TERMINATED") {
        await this.provisioner.cancel(row.id);
        const result = await this.handler.handle(row.id, { type: "TerminatePod", at }, metadata);
        if (result.newEvents.length) changed.push(row.id);
        continue;
      }
      if (row.status === "failed") {
        try {
          await this.pods.terminatePod(row.podId, this.loop.signal);
        } catch (error) {
          if (this.loop.signal.aborted) break;
          if (!(error instanceof RunpodNotFound)) {
            if (!(error instanceof RunpodError)) throw error;
            continue; // Tried again next pass.
          }
        }
        const at = this.clock.now().toISOString();
        const result = await this.handler.handle(row.id, { type: "TerminatePod", at }, {
          actor: "system:reconciler",
        });
        if (result.newEvents.length) changed.push(row.id);
        continue;
      }
      const serving = row.status === "running";
      const inProgress = row.status === "pending" || row.status === "provisioning" ||
        row.status === "pulling";
      if (pod.status === "EXITED" || pod.status === "ERROR") {
        if (serving || (inProgress && !this.provisioner.isActive(row.id))) {
          const result = await this.handler.handle(row.id, {
            type: "StopPod",
            reason: "external",
            detail: `RunPod reports the pod ${pod.status}.`,
            at,
          }, metadata);
          if (result.newEvents.length) changed.push(row.id);
        }
        continue;
      }
      // PROVISIONING, STARTING or RUNNING on RunPod.
      if (row.status === "stopped") {
        // Started from the console (or our own start in flight, which this joins).
        void this.provisioner.provision(row.id, { restart: true });
      } else if (inProgress && !this.provisioner.isActive(row.id)) {
        void this.provisioner.provision(row.id);
      }
    }
    return { checked: rows.length, changed };
  }
}
