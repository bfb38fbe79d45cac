import { Inject, Injectable } from "@nestjs/common";
import { isDomainError } from "../../common/domain-error.ts";
import { CLOCK, type Clock } from "../../common/clock.ts";
import { LedgerService } from "../../billing/ledger.service.ts";
import type { DeploymentState } from "../deployment.decider.ts";
import { DeploymentCommandHandler } from "../deployment.handler.ts";

/** The ledger refused for want of credit (LedgerRejected `insufficient_credits`). */
export function isInsufficientCredits(error: unknown): boolean {
  return isDomainError(error, "insufficient_credits");
}

/** The ledger reservation a deploy places before it rents the pod. */
export const podHoldReservationId = (claimId: string) => `pod:${claimId}`;

/**
 * The deploy's prepaid hold after the pod exists: closed on the deployment stream first (so the
 * amount is fixed once, across instances), then settled in the ledger at exactly the prepaid
 * minutes' sum, then confirmed (PodHoldSettled). Metering and start share it.
 */
@Injectable()
export class PodHolds {
  constructor(
    @Inject(DeploymentCommandHandler) private readonly handler: DeploymentCommandHandler,
    @Inject(LedgerService) private readonly ledger: LedgerService,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  /**
   * Closes the prepaid window (if open) and settles the hold at the closed sum; true when the
   * hold is settled (or there is none). False only when the ledger refuses: the hold had expired
   * and the balance cannot cover the prepaid minutes; the next pass tries again.
   */
  async settle(deploymentId: string, loaded: DeploymentState): Promise<boolean> {
    let state = loaded;
    if (!state.hold || state.hold.settled) return true;
    if (state.hold.closedMicros === null) {
      state = (await this.handler.handle(deploymentId, {
        type: "CloseHold",
        at: this.clock.now().toISOString(),
      }, { actor: "system:metering" })).newState;
    }
    const hold = state.hold!;
    if (hold.settled) return true;
    const amountMicros = hold.closedMicros!;
    try {
      if (amountMicros > 0) {
        await this.ledger.settle(state.accountId!, {
          reservationId: hold.reservationId,
          amountMicros,
          reference: `deployment:${deploymentId}`,
          ...(state.modelIdentifier ? { model: state.modelIdentifier } : {}),
          kind: "pod_prepaid_minutes",
        }, { actor: "system:metering" });
      } else {
        await this.ledger.release(state.accountId!, {
          reservationId: hold.reservationId,
          reason: "pod_unused",
        }, { actor: "system:metering" });
      }
    } catch (error) {
      if (isInsufficientCredits(error)) return false;
      throw error;
    }
    await this.handler.handle(deploymentId, {
      type: "MarkHoldSettled",
      at: this.clock.now().toISOString(),
    }, { actor: "system:metering" });
    return true;
  }
}
