import type { Principal } from "../auth/principal.ts";
import { INFERENCE_CHARGE_KIND } from "../billing/inference-charges.projection.ts";
import type { LedgerService } from "../billing/ledger.service.ts";
import type { Route } from "./model-router.ts";
import type { PendingSettlements } from "./pending-settlements.ts";

/**
 * Per-request billing for serverless catalogue models: reserve before the upstream call,
 * settle on success, release on failure. Pods and external upstreams cost nothing per request.
 * Settle/release run off the response path (PendingSettlements retries them and shutdown waits
 * for them); the client doesn't wait.
 */
export class RequestBilling {
  private state: "none" | "reserved" | "settled" | "released" = "none";

  constructor(
    private readonly ledger: LedgerService,
    private readonly settlements: PendingSettlements,
    private readonly principal: Principal,
    private readonly route: Route,
    private readonly reservationId: string,
    private readonly model: string,
    private readonly requestId: string,
  ) {}

  async reserve(): Promise<void> {
    if (this.route.priceMicros <= 0) return;
    await this.ledger.reserve(this.principal.accountId, {
      reservationId: this.reservationId,
      amountMicros: this.route.priceMicros,
      reference: `inference:${this.reservationId}`,
      model: this.model,
    }, { actor: this.principal.actor, requestId: this.requestId });
    this.state = "reserved";
  }

  /** Returns the amount charged. */
  settle(): number {
    if (this.state !== "reserved") return 0;
    this.state = "settled";
    this.settlements.track(
      "settlement",
      this.reservationId,
      () =>
        this.ledger.settle(this.principal.accountId, {
          reservationId: this.reservationId,
          amountMicros: this.route.priceMicros,
          reference: `inference:${this.reservationId}`,
          model: this.model,
          kind: INFERENCE_CHARGE_KIND,
        }, { actor: this.principal.actor, requestId: this.requestId }),
    );
    return this.route.priceMicros;
  }

  /**
   * What InferenceCompleted records about the charge: its amount and, when there is one, the
   * ledger key it settles (the charge reconciler charges a missing one under that key).
   */
  completedFacts(chargedMicros: number): { chargedMicros: number; reservationId?: string } {
    return chargedMicros > 0 ? { chargedMicros, reservationId: this.reservationId } : {
      chargedMicros,
    };
  }

  release(reason: string): number {
    if (this.state !== "reserved") return 0;
    this.state = "released";
    this.settlements.track(
      "release",
      this.reservationId,
      () =>
        this.ledger.release(
          this.principal.accountId,
          { reservationId: this.reservationId, reason },
          {
            actor: this.principal.actor,
            requestId: this.requestId,
          },
        ),
    );
    return 0;
  }
}
