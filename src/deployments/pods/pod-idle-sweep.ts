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
import { DeploymentCommandHandler } from "../deployment.handler.ts";
import { DEPLOYMENT_USED_FLUSH_MS, DeploymentWaker } from "../deployment-waker.ts";
import { DeploymentsQueries } from "../deployments.queries.ts";
import { PodDeploymentsQueries } from "./pod-deployments.queries.ts";
import { PodLifecycleService } from "./pod-lifecycle.service.ts";

export interface IdleSweepReport {
  /** Deployments stopped with reason `idle` in this pass. */
  stopped: string[];
}

/**
 * Stops running pods nobody used for their idle_timeout_s (PodStopped `idle`; metering stops
 * with it). "Used" is the latest DeploymentUsed on the stream (any instance) or this instance's
 * own last-seen, whichever is later; DEPLOYMENT_USED_FLUSH_MS is allowed on top, since another
 * instance may not have appended its latest use yet. The stream is read again right before the
 * stop, so a use appended meanwhile keeps the pod running.
 */
@Injectable()
export class PodIdleSweep implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly sweepsHere: boolean;
  private readonly passes: PeriodicSweep<IdleSweepReport>;

  constructor(
    @Inject(PodDeploymentsQueries) private readonly rows: PodDeploymentsQueries,
    @Inject(DeploymentsQueries) private readonly queries: DeploymentsQueries,
    @Inject(DeploymentCommandHandler) private readonly handler: DeploymentCommandHandler,
    @Inject(DeploymentWaker) private readonly waker: DeploymentWaker,
    @Inject(PodLifecycleService) private readonly lifecycle: PodLifecycleService,
    @Inject(APP_CONFIG) config: AppConfig,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {
    this.sweepsHere = runsSharedSweeps(config);
    this.passes = new PeriodicSweep(
      config.idleSweepIntervalMs,
      () => this.pass(),
      (error) => logger.write("warn", "idle sweep failed", { error: (error as Error).message }),
    );
  }

  onApplicationBootstrap(): void {
    if (this.sweepsHere) this.passes.start({ firstSweepNow: false });
  }

  async onApplicationShutdown(): Promise<void> {
    await this.passes.stop();
  }

  /** One pass (the loop calls this; tests call it with a ManualClock). */
  sweepNow(): Promise<IdleSweepReport> {
    return this.passes.run();
  }

  private async pass(): Promise<IdleSweepReport> {
    await this.waker.flushUse();
    await this.rows.catchUp();
    const now = this.clock.now().getTime();
    const report: IdleSweepReport = { stopped: [] };
    for (const row of this.rows.withStatus(["running"])) {
      if (row.idleTimeoutS === undefined) continue;
      const idleFor = (lastUsed: number) =>
        now - lastUsed >= row.idleTimeoutS! * 1000 + DEPLOYMENT_USED_FLUSH_MS;
      const seen = Math.max(Date.parse(row.lastUsedAt ?? row.updatedAt), this.local(row.id));
      if (!idleFor(seen)) continue;
      try {
        const { state } = await this.handler.load(row.id);
        const lastUsed = Math.max(
          Date.parse(state.lastUsedAt ?? row.updatedAt),
          this.local(row.id),
        );
        if (state.status !== "running" || state.wake?.outcome === "pending" || !idleFor(lastUsed)) {
          continue;
        }
        const deployment = this.queries.get(row.accountId, row.id);
        if (!deployment) continue;
        await this.lifecycle.stopFor(
          deployment,
          "idle",
          `No request for ${row.idleTimeoutS} s (idle_timeout_s); the next request wakes it.`,
        );
        report.stopped.push(row.id);
      } catch (error) {
        logger.write("warn", "idle stop failed", {
          deploymentId: row.id,
          error: (error as Error).message,
        });
      }
    }
    return report;
  }

  private local(id: string): number {
    return this.waker.lastSeenAt(id) ?? 0;
  }
}
