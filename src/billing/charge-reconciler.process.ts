import {
  Inject,
  Injectable,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from "@nestjs/common";
import { CLOCK, type Clock } from "../common/clock.ts";
import { logger } from "../common/json-logger.ts";
import { PeriodicSweep } from "../common/repeat.ts";
import { APP_CONFIG, type AppConfig, runsSharedSweeps } from "../config/config.ts";
import { metrics } from "../common/metrics.ts";
import { BillingQueries } from "./billing.queries.ts";
import type { DueCharge } from "./inference-charges.projection.ts";
import { INFERENCE_CHARGE_KIND } from "./inference-charges.projection.ts";
import { LedgerService, type ReconcileOutcome } from "./ledger.service.ts";

const reconciled = metrics.counter(
  "billing_charges_reconciled_total",
  "Completed requests whose missing charge the reconciler settled, by outcome",
);

/** Rows per page, and pages per sweep (the next tick continues). */
const PAGE = 200;
const MAX_PAGES = 50;

/**
 * A completed request is always charged. The per-request settle runs after the response and
 * can be lost (a crash, a store outage longer than its retries, a refusal after its hold
 * expired); this process finds completed requests whose charge is still missing in the
 * `billing-inference-charges` read model and charges them with the settle's own key, or records
 * a ChargeWrittenOff when the account can no longer cover them. At start (what a crash left)
 * and then every CHARGE_RECONCILE_INTERVAL_MS. Every instance may run it: the decider makes a
 * second charge of the same key a no-op, and the normal settle racing it too.
 */
@Injectable()
export class ChargeReconciler implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly intervalMs: number;
  private readonly sweeps: PeriodicSweep<number>;
  private readonly sweepsHere: boolean;

  constructor(
    @Inject(LedgerService) private readonly ledger: LedgerService,
    @Inject(BillingQueries) private readonly queries: BillingQueries,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(APP_CONFIG) config: Pick<AppConfig, "chargeReconcileIntervalMs" | "workerIndex">,
  ) {
    this.intervalMs = config.chargeReconcileIntervalMs;
    this.sweepsHere = runsSharedSweeps(config);
    this.sweeps = new PeriodicSweep(
      this.intervalMs,
      () => this.sweepOnce(),
      (error) => this.logFailure(error),
    );
  }

  onApplicationBootstrap(): void {
    if (this.sweepsHere) this.sweeps.start();
  }

  onApplicationShutdown(): Promise<void> {
    return this.sweeps.stop();
  }

  /** Settles every charge due for longer than one interval; resolves with how many were closed. */
  sweep(): Promise<number> {
    return this.sweeps.run();
  }

  /** Charges (or writes off) one completed request's missing charge. */
  reconcile(due: DueCharge): Promise<ReconcileOutcome> {
    return this.ledger.reconcileCharge(due.accountId, {
      chargeId: due.chargeId,
      amountMicros: due.amountMicros,
      reference: `inference:${due.chargeId}`,
      ...(due.model !== null ? { model: due.model } : {}),
      kind: INFERENCE_CHARGE_KIND,
    }, {
      actor: "system:charge-reconciler",
      ...(due.requestId !== null ? { requestId: due.requestId } : {}),
    });
  }

  private async sweepOnce(): Promise<number> {
    // The normal settle gets one interval to land first; acting earlier would only be a no-op.
    const completedBy = new Date(this.clock.now().getTime() - this.intervalMs);
    let closed = 0;
    let after: DueCharge | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const due = await this.queries.dueInferenceCharges(completedBy, PAGE, after);
      if (due.length === 0) break;
      const outcomes = await Promise.allSettled(due.map((row) => this.reconcile(row)));
      outcomes.forEach((outcome, index) => {
        if (outcome.status === "rejected") {
          // Left due: the next sweep retries it.
          logger.write("warn", "charge reconciliation failed", {
            accountId: due[index].accountId,
            chargeId: due[index].chargeId,
            error: (outcome.reason as Error).message,
          });
          return;
        }
        reconciled.inc({ outcome: outcome.value.outcome });
        if (outcome.value.outcome !== "already_closed") closed++;
        if (outcome.value.outcome === "written_off") {
          logger.write("warn", "inference charge written off", {
            accountId: due[index].accountId,
            chargeId: due[index].chargeId,
            amountMicros: due[index].amountMicros,
            reason: "insufficient_credits",
          });
        }
      });
      after = due[due.length - 1];
      if (due.length < PAGE) break;
    }
    if (closed > 0) logger.write("info", "charges reconciled", { closed });
    return closed;
  }

  private logFailure(error: unknown): void {
    logger.write("warn", "charge reconciliation sweep failed", {
      error: (error as Error).message,
    });
  }
}
