import { isDomainError } from "../common/domain-error.ts";
import { logger } from "../common/json-logger.ts";
import type { LedgerMetadata, LedgerService } from "../billing/ledger.service.ts";
import { realtimeChargeId, realtimeHoldId } from "./realtime.events.ts";

/** The `kind` realtime charges carry in the ledger (usage by kind, audits). */
export const REALTIME_CHARGE_KIND = "realtime";

/**
 * The credit side of one catalogue-model session. A ledger hold is closed by one settle, so
 * the session holds one hold per response boundary (`…:hold:<n>`, n = responses so far): each
 * `response.done` releases hold n, charges the response under its own key
 * (`realtime:<session>:response:<id>`, the key the crash sweep uses too) and places hold n+1,
 * sized to cover a response as large as the largest so far. The three are queued on the
 * account's ledger batch in that order, so no other spending of the account lands between them.
 * When hold n+1 cannot be placed the balance cannot cover another response: `cut` is true.
 */
export class RealtimeBilling {
  private index = 0;
  private largestMicros = 0;
  private open = false;

  constructor(
    private readonly ledger: LedgerService,
    private readonly accountId: string,
    private readonly sessionId: string,
    private readonly model: string,
    private readonly holdMicros: number,
    private readonly holdExpiresAt: () => Date,
    private readonly metadata: LedgerMetadata,
  ) {}

  get firstHoldId(): string {
    return realtimeHoldId(this.sessionId, 0);
  }

  /** The opening hold; refuses (insufficient_credits) when the account cannot cover it. */
  async start(): Promise<void> {
    await this.reserve(0, this.holdMicros);
    this.open = true;
  }

  /**
   * Bills one recorded response. Resolves `{ cut: true }` when the next hold cannot be placed.
   * A charge the account cannot cover even with the hold released is written off by the
   * ledger (ReconcileCharge) and cuts the session: the loss is bounded by one response.
   */
  async afterResponse(responseId: string, chargeMicros: number): Promise<{ cut: boolean }> {
    const current = this.index;
    this.index += 1;
    this.largestMicros = Math.max(this.largestMicros, chargeMicros);
    const release = this.ledger.release(this.accountId, {
      reservationId: realtimeHoldId(this.sessionId, current),
      reason: "realtime_response_settled",
    }, this.metadata);
    const charge = chargeMicros > 0
      ? this.ledger.reconcileCharge(this.accountId, {
        chargeId: realtimeChargeId(this.sessionId, responseId),
        amountMicros: chargeMicros,
        reference: `realtime:${this.sessionId}`,
        model: this.model,
        kind: REALTIME_CHARGE_KIND,
      }, this.metadata)
      : Promise.resolve({ outcome: "already_closed" as const });
    const next = this.reserve(this.index, Math.max(this.holdMicros, this.largestMicros));
    const [, charged, held] = await Promise.allSettled([release, charge, next]);
    if (charged.status === "rejected") {
      // Left to the crash sweep, which charges recorded responses with the same key.
      logger.write("warn", "realtime charge failed", {
        sessionId: this.sessionId,
        error: (charged.reason as Error).message,
      });
    }
    const writtenOff = charged.status === "fulfilled" && charged.value.outcome === "written_off";
    if (held.status === "rejected") {
      this.open = false;
      if (!isDomainError(held.reason, "insufficient_credits")) throw held.reason;
      return { cut: true };
    }
    return { cut: writtenOff };
  }

  /** Gives the open hold back at the end of the session. */
  async close(reason: string): Promise<void> {
    if (!this.open) return;
    this.open = false;
    await this.ledger.release(this.accountId, {
      reservationId: realtimeHoldId(this.sessionId, this.index),
      reason,
    }, this.metadata);
  }

  private reserve(index: number, amountMicros: number): Promise<void> {
    return this.ledger.reserve(this.accountId, {
      reservationId: realtimeHoldId(this.sessionId, index),
      amountMicros,
      reference: `realtime:${this.sessionId}`,
      model: this.model,
      expiresAt: this.holdExpiresAt(),
    }, this.metadata);
  }
}
