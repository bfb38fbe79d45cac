import { Controller, Headers, HttpCode, Inject, Post, Req } from "@nestjs/common";
import type { FastifyRequest } from "fastify";
import { ApiError } from "../common/api-error.ts";
import { SkipRateLimit } from "../rate-limit/rate-limit.decorators.ts";
import { PaymentsService } from "./payments.service.ts";
import { rawBodyOf } from "./raw-body.ts";

export const STRIPE_WEBHOOK_PATH = "/api/billing/stripe/webhook";

/**
 * Stripe calls this; it authenticates by signature, not by API key. Not rate limited: the
 * signature is the gate, and a burst from Stripe's few addresses must not delay credits.
 */
@Controller("api/billing/stripe")
@SkipRateLimit()
export class StripeWebhookController {
  constructor(@Inject(PaymentsService) private readonly payments: PaymentsService) {}

  @Post("webhook")
  @HttpCode(200)
  webhook(@Req() request: FastifyRequest, @Headers("stripe-signature") signature?: string) {
    const raw = rawBodyOf(request);
    if (!raw) throw ApiError.badRequest("Missing request body.", null, "invalid_signature");
    return this.payments.handleWebhook(raw, signature);
  }
}
