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
import { LedgerService } from "../../billing/ledger.service.ts";
import { dueMinutes, holdCovers, isActive, minutePriceMicros } from "../deployment.decider.ts";
import { spendCapReached } from "../deployment-sleep.ts";
import { DeploymentsQueries } from "../deployments.queries.ts";
import { DeploymentCommandHandler } from "../deployment.handler.ts";
import { PodDeploymentsQueries } from "./pod-deployments.queries.ts";
import { isInsufficientCredits, PodHolds } from "./pod-holds.ts";
import { PodLifecycleService } from "./pod-lifecycle.service.ts";

export interface MeteringReport {
  /** Pod-minutes charged in this pass. */
  charged: { deploymentId: string; minute: string; amountMicros: number }[];
  /** Accounts whose pods were stopped because the balance could not cover the next minute. */
  stoppedAccounts: string[];
}

/** Stopped deployments are looked at this long after their last change, for unmetered minutes. */
const RECENTLY_CHANGED_MS = 60 * 60_000;

export const meteringChargeId = (podId: string, minute: string) => `metering:${podId}:${minute}`;

/** Statuses in which a pod is billed (provisioning and the pull included). */
const BILLED_STATUSES = ["pending", "provisioning", "pulling", "running"] as const;

/**
 * Bills pods by time: each started minute, prepaid, at RunPod's `cost` (USD/h) ×
 * POD_PRICE_MULTIPLIER, from PodCreated (old streams: PodStarted). Minutes come from the
 * deployment stream (billed intervals … last metered), so a restart neither skips nor repeats one.
 *
 * Money, exactly (see deployment.decider.ts): while the deploy's prepaid hold has room, a minute
 * is only recorded (DeploymentUsageMetered `prepaid`), since the hold already reserves it. Once it
 * has none, or the pod stops being billed: PodHoldClosed (the sum, fixed on the stream), then the
 * ledger settles the hold at that sum (SettleReservation, idempotent by reservation id; the rest of
 * the hold returns to the account), then PodHoldSettled. Every later minute: CreditsCharged
 * (chargeId `metering:<podId>:<minute>`, idempotent) then DeploymentUsageMetered (deterministic
 * event id, expected revision). A refused charge or settlement stops the account's pods
 * (`insufficient_credits`) before they run a minute unpaid.
 */
@Injectable()
export class PodMetering implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly passes: PeriodicSweep<MeteringReport>;

  constructor(
    @Inject(PodDeploymentsQueries) private readonly queries: PodDeploymentsQueries,
    @Inject(DeploymentCommandHandler) private readonly handler: DeploymentCommandHandler,
    @Inject(LedgerService) private readonly ledger: LedgerService,
    @Inject(PodLifecycleService) private readonly lifecycle: PodLifecycleService,
    @Inject(PodHolds) private readonly holds: PodHolds,
    @Inject(DeploymentsQueries) private readonly deployments: DeploymentsQueries,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {
    this.passes = new PeriodicSweep(
      config.meteringIntervalMs,
      () => this.pass(),
      (error) => logger.write("warn", "metering failed", { error: (error as Error).message }),
    );
  }

  onApplicationBootstrap(): void {
    // The first pass runs one interval after boot, so start-up is not slowed by ledger calls.
    if (runsSharedSweeps(this.config)) this.passes.start({ firstSweepNow: false });
  }

  async onApplicationShutdown(): Promise<void> {
    await this.passes.stop();
  }

  /** One pass (the loop calls this; tests call it with a ManualClock). Concurrent calls share a pass. */
  meterNow(): Promise<MeteringReport> {
    return this.passes.run();
  }

  private async pass(): Promise<MeteringReport> {
    await this.queries.catchUp();
    const now = this.clock.now();
    const recent = new Date(now.getTime() - RECENTLY_CHANGED_MS).toISOString();
    const rows = [
      ...this.queries.withStatus(BILLED_STATUSES),
      ...this.queries.withStatus(["stopped", "terminated", "failed"]).filter((r) =>
        r.updatedAt >= recent
      ),
    ];
    const report: MeteringReport = { charged: [], stoppedAccounts: [] };
    const refused = new Map<string, string>();
    for (const row of rows) {
      try {
        await this.meterDeployment(row.id, now, report, refused);
      } catch (error) {
        // One pod's failure (RunPod refusing its stop, a store hiccup) must not leave every pod
        // after it unmetered and unchecked: it is tried again on the next pass.
        logger.write("warn", "metering a pod failed", {
          deploymentId: row.id,
          error: (error as Error).message,
        });
      }
    }
    for (const [accountId, detail] of refused) {
      await this.lifecycle.stopAccountPods(accountId, "insufficient_credits", detail);
      report.stoppedAccounts.push(accountId);
    }
    return report;
  }

  /** Meters one deployment's due minutes (against its hold, else from the balance). */
  private async meterDeployment(
    id: string,
    now: Date,
    report: MeteringReport,
    refused: Map<string, string>,
  ): Promise<void> {
    // An account whose balance refused a minute is still metered against its pods' holds
    // (that needs no balance): a hold skipped here would expire and leave its minutes unpaid.
    let { state } = await this.handler.load(id);
    const accountId = state.accountId;
    if (!accountId) return;
    const due = dueMinutes(state, now);
    const amountMicros = minutePriceMicros(state.costPerHourUsd, this.config.podPriceMultiplier);
    if (due.length > 0 && !(Number.isSafeInteger(amountMicros) && amountMicros > 0)) {
      // Old streams could record a missing price (NaN) and run free: stop the pod instead.
      if (this.config.podPriceMultiplier > 0) {
        logger.write("error", "pod has no usable price; stopping it", { deploymentId: id });
        await this.lifecycle.stopForMissingPrice(id);
        return;
      }
    }
    for (const minute of due) {
      if (holdCovers(state, amountMicros)) {
        state = (await this.handler.handle(id, {
          type: "MeterMinute",
          minute,
          amountMicros,
          prepaid: true,
        }, { actor: "system:metering" })).newState;
        report.charged.push({ deploymentId: id, minute, amountMicros });
        continue;
      }
      if (!(await this.holds.settle(id, state))) {
        refused.set(accountId, "The balance cannot cover the pod's prepaid minutes.");
        break;
      }
      // The balance already refused a minute in this pass: charge it nothing more.
      if (refused.has(accountId)) break;
      if (amountMicros > 0) {
        try {
          await this.ledger.charge(accountId, {
            chargeId: meteringChargeId(id, minute),
            amountMicros,
            reference: `deployment:${id}`,
            ...(state.modelIdentifier ? { model: state.modelIdentifier } : {}),
            kind: "pod_minute",
          }, { actor: "system:metering" });
        } catch (error) {
          if (isInsufficientCredits(error)) {
            refused.set(accountId, `The balance cannot cover the pod minute ${minute}.`);
            break;
          }
          throw error;
        }
      }
      state = (await this.handler.handle(id, { type: "MeterMinute", minute, amountMicros }, {
        actor: "system:metering",
      })).newState;
      report.charged.push({ deploymentId: id, minute, amountMicros });
    }
    // max_spend_usd: the pod stops before a minute would take this month's spend past the cap.
    if (isActive(state) && spendCapReached(state, now.toISOString(), amountMicros)) {
      const deployment = this.deployments.get(accountId, id);
      if (deployment) {
        await this.lifecycle.stopFor(
          deployment,
          "spend_cap",
          "This month's spend reached max_spend_usd; raise it or wait for next month.",
        );
        return;
      }
    }
    // Every billed minute is metered and the pod is no longer billed: the hold's window ends.
    if (
      state.hold && !state.hold.settled && state.runningSince === null &&
      dueMinutes(state, now).length === 0
    ) {
      if (!(await this.holds.settle(id, state))) {
        refused.set(accountId, "The balance cannot cover the pod's prepaid minutes.");
      }
    }
  }
}
