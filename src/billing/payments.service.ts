import { Inject, Injectable } from "@nestjs/common";
import { ApiError } from "../common/api-error.ts";
import { logger } from "../common/json-logger.ts";
import { type Micros, microsToUsd, usdToMicros } from "../common/money.ts";
import { MINIMUM_PURCHASE_MICROS } from "./ledger.decider.ts";
import { LedgerService } from "./ledger.service.ts";
import { centsToMicros, StripeGateway } from "./stripe.gateway.ts";

export interface WebhookOutcome {
  received: true;
  /** What the event did: `credited`, `duplicate` or `ignored`. */
  result: "credited" | "duplicate" | "ignored";
}

/** Buying credits: Checkout Sessions out, verified webhooks in, CreditsPurchased on the ledger. */
@Injectable()
export class PaymentsService {
  constructor(
    @Inject(StripeGateway) private readonly stripe: StripeGateway,
    @Inject(LedgerService) private readonly ledger: LedgerService,
  ) {}

  async checkout(
    accountId: string,
    amountUsd: number,
    idempotencyKey: string,
    returnOrigin: string,
  ) {
    const amountMicros = usdToMicros(amountUsd);
    if (amountMicros < MINIMUM_PURCHASE_MICROS) {
      throw ApiError.badRequest(
        "Purchases start at $5.00.",
        "amount_usd",
        "below_minimum_purchase",
      );
    }
    const session = await this.stripe.createCheckoutSession(
      accountId,
      amountMicros,
      idempotencyKey,
      returnOrigin,
    );
    return {
      id: session.id,
      url: session.url,
      amount_usd: microsToUsd(amountMicros),
      currency: "usd",
    };
  }

  /**
   * Credits a paid Checkout Session once. The payment reference is the session id, so a
   * replayed Stripe event (same id) and a second event about the same session add nothing.
   */
  async handleWebhook(
    rawBody: Uint8Array | string,
    signature: string | undefined,
  ): Promise<WebhookOutcome> {
    const event = await this.stripe.verifyWebhook(rawBody, signature);
    const session = event.session;
    if (!session) return { received: true, result: "ignored" };
    if (
      session.paymentStatus !== "paid" || !session.accountId ||
      session.amountTotalCents === undefined
    ) {
      logger.write("info", "stripe checkout session not credited", {
        stripeEventId: event.id,
        session: session.id,
        paymentStatus: session.paymentStatus,
      });
      return { received: true, result: "ignored" };
    }
    if (session.currency && session.currency.toLowerCase() !== "usd") {
      logger.write("error", "stripe checkout session in an unexpected currency", {
        stripeEventId: event.id,
        session: session.id,
        currency: session.currency,
      });
      return { received: true, result: "ignored" };
    }
    const amountMicros: Micros = centsToMicros(session.amountTotalCents);
    const result = await this.ledger.purchase(session.accountId, {
      paymentReference: session.id,
      amountMicros,
      provider: "stripe",
    }, { actor: "stripe", causationId: event.id });
    return { received: true, result: result.duplicate ? "duplicate" : "credited" };
  }
}
