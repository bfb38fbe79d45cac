import {
  Inject,
  Injectable,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from "@nestjs/common";
import { CLOCK, type Clock } from "../common/clock.ts";
import { logger } from "../common/json-logger.ts";
import { PeriodicSweep } from "../common/repeat.ts";
import { LedgerService } from "../billing/ledger.service.ts";
import { APP_CONFIG, type AppConfig } from "../config/config.ts";
import { realtimeChargeId, realtimeHoldId, realtimeStream } from "./realtime.events.ts";
import { REALTIME_CHARGE_KIND } from "./realtime-billing.ts";
import { RealtimeQueries } from "./realtime.queries.ts";
import { RealtimeService } from "./realtime.service.ts";
import { RealtimeSessionHandler } from "./realtime-session.handler.ts";

/** Sessions looked at per sweep (the next tick continues). */
const PAGE = 200;
/** A session of another instance is presumed dead this long after it could have ended. */
const GRACE_MS = 10 * 60_000;

/**
 * A session cut by a crash has no RealtimeSessionEnded and may have responses recorded but not
 * charged. This sweep finds such sessions (this instance's own that it no longer holds, and any
 * instance's older than REALTIME_MAX_SESSION_S plus a grace, which cannot still be open),
 * charges every recorded response with the key the live session uses (a charge already made is
 * a no-op in the ledger), releases its holds, and ends it with reason `reconciled`.
 */
@Injectable()
export class RealtimeReconciler implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly sweeps: PeriodicSweep<number>;

  constructor(
    @Inject(RealtimeQueries) private readonly queries: RealtimeQueries,
    @Inject(RealtimeSessionHandler) private readonly handler: RealtimeSessionHandler,
    @Inject(RealtimeService) private readonly sessions: RealtimeService,
    @Inject(LedgerService) private readonly ledger: LedgerService,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.sweeps = new PeriodicSweep(
      config.realtimeReconcileIntervalMs,
      () => this.sweepOnce(),
      (error) =>
        logger.write("warn", "realtime reconciliation sweep failed", {
          error: (error as Error).message,
        }),
    );
  }

  onApplicationBootstrap(): void {
    this.sweeps.start();
  }

  onApplicationShutdown(): Promise<void> {
    return this.sweeps.stop();
  }

  /** Reconciles every dead session found now; resolves with how many were ended. */
  sweep(): Promise<number> {
    return this.sweeps.run();
  }

  private async sweepOnce(): Promise<number> {
    const cutoff = new Date(
      this.clock.now().getTime() - this.config.realtimeMaxSessionS * 1000 - GRACE_MS,
    );
    const candidates = await this.queries.openSessions(this.config.instanceId, cutoff, PAGE);
    let ended = 0;
    for (const row of candidates) {
      if (this.sessions.isLive(row.sessionId)) continue;
      try {
        if (await this.reconcile(row.sessionId)) ended++;
      } catch (error) {
        logger.write("warn", "realtime session reconciliation failed", {
          sessionId: row.sessionId,
          error: (error as Error).message,
        });
      }
    }
    if (ended > 0) logger.write("info", "realtime sessions reconciled", { ended });
    return ended;
  }

  /** Charges what a dead session recorded, frees its holds, ends it. */
  async reconcile(sessionId: string): Promise<boolean> {
    const { state } = await this.handler.load(sessionId);
    if (state.status !== "open") return false;
    const accountId = state.accountId!;
    const metadata = {
      actor: "system:realtime-reconciler",
      correlationId: realtimeStream(sessionId),
    };
    for (const response of state.responses.values()) {
      if (response.chargeMicros <= 0) continue;
      await this.ledger.reconcileCharge(accountId, {
        chargeId: realtimeChargeId(sessionId, response.responseId),
        amountMicros: response.chargeMicros,
        reference: `realtime:${sessionId}`,
        ...(state.model ? { model: state.model } : {}),
        kind: REALTIME_CHARGE_KIND,
      }, metadata);
    }
    if (state.pricing) {
      // Hold n exists for n = 0..responses; releasing one already closed (or never placed) is a no-op.
      for (let index = 0; index <= state.responses.size; index++) {
        await this.ledger.release(accountId, {
          reservationId: realtimeHoldId(sessionId, index),
          reason: "realtime_reconciled",
        }, metadata);
      }
    }
    const result = await this.handler.handle(sessionId, {
      type: "EndSession",
      reason: "reconciled",
      clientCloseCode: null,
      upstreamCloseCode: null,
      framesFromClient: 0,
      framesFromUpstream: 0,
      bytesFromClient: 0,
      bytesFromUpstream: 0,
      at: this.clock.now().toISOString(),
    }, metadata);
    this.handler.forget(sessionId);
    return result.newEvents.length > 0;
  }
}
