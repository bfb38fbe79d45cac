import {
  Inject,
  Injectable,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from "@nestjs/common";
import { CLOCK, type Clock } from "../common/clock.ts";
import { logger } from "../common/json-logger.ts";
import { APP_CONFIG, type AppConfig, runsSharedSweeps } from "../config/config.ts";
import { BillingQueries } from "./billing.queries.ts";
import { ChargeReconciler } from "./charge-reconciler.process.ts";
import { LedgerService } from "./ledger.service.ts";
import { PeriodicSweep } from "../common/repeat.ts";

/**
 * Releases holds that were never settled once they pass `expiresAt`: at start (holds that
 * expired while the gateway was down) and then on a timer. Every instance may run it; the
 * ledger decider makes a second release of the same hold a no-op.
 *
 * A hold whose request completed but whose settlement went missing is settled instead, while
 * the hold still covers it: expiry never makes delivered work free. (The charge reconciler
 * would charge it after a release too, but only if the balance still covered it then.)
 */
@Injectable()
export class HoldExpiryProcess implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly sweeps: PeriodicSweep<number>;
  private readonly sweepsHere: boolean;

  constructor(
    @Inject(LedgerService) private readonly ledger: LedgerService,
    @Inject(BillingQueries) private readonly queries: BillingQueries,
    @Inject(ChargeReconciler) private readonly charges: ChargeReconciler,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(APP_CONFIG) config: Pick<AppConfig, "reservationTtlSeconds" | "workerIndex">,
  ) {
    this.sweepsHere = runsSharedSweeps(config);
    this.sweeps = new PeriodicSweep(
      Math.min(60_000, Math.max(1_000, (config.reservationTtlSeconds * 1000) / 4)),
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

  /** Releases every hold expired by now; resolves with how many were released. */
  sweep(): Promise<number> {
    return this.sweeps.run();
  }

  private async sweepOnce(): Promise<number> {
    let released = 0;
    // Bounded: 100 pages per sweep; the next tick continues.
    for (let page = 0; page < 100; page++) {
      const expired = await this.queries.expiredHolds(this.clock.now(), 500);
      if (expired.length === 0) return released;
      await Promise.all(
        expired.map(async (hold) => {
          const due = await this.queries.dueInferenceCharge(hold.accountId, hold.reservationId);
          if (due) return void await this.charges.reconcile(due);
          await this.ledger.release(hold.accountId, {
            reservationId: hold.reservationId,
            reason: "expired",
          }, {
            actor: "system:hold-expiry",
          });
        }),
      );
      released += expired.length;
      if (expired.length < 500) return released;
    }
    return released;
  }

  private logFailure(error: unknown): void {
    logger.write("warn", "hold expiry sweep failed", { error: (error as Error).message });
  }
}
