import { Controller, Headers, HttpCode, Inject, Post, Req } from "@nestjs/common";
import type { FastifyRequest } from "fastify";
import { ApiBody, ApiOperation, ApiTags } from "@nestjs/swagger";
import { ApiErrors } from "../api-docs/api-docs.decorators.ts";
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
@ApiTags("Billing")
export class StripeWebhookController {
  constructor(@Inject(PaymentsService) private readonly payments: PaymentsService) {}

  @Post("webhook")
  @ApiOperation({
    summary: "Stripe webhook (`checkout.session.completed` → CreditsPurchased, once)",
    description: "Authenticated by the `Stripe-Signature` header (STRIPE_WEBHOOK_SECRET).",
  })
  @ApiBody({ description: "Stripe's event, verified byte for byte.", schema: { type: "object" } })
  @ApiErrors(
    [400, "`invalid_signature`: missing body, or a bad or stale signature."],
    [503, "STRIPE_WEBHOOK_SECRET is not set, or the instance is shutting down."],
  )
  @HttpCode(200)
  webhook(@Req() request: FastifyRequest, @Headers("stripe-signature") signature?: string) {
    const raw = rawBodyOf(request);
    if (!raw) throw ApiError.badRequest("Missing request body.", null, "invalid_signature");
    return this.payments.handleWebhook(raw, signature);
  }
}
