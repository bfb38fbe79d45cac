import { Inject, Injectable } from "@nestjs/common";
import type Stripe from "stripe";
import { ApiError } from "../common/api-error.ts";
import { logger } from "../common/json-logger.ts";
import { type Micros, MICROS_PER_USD } from "../common/money.ts";
import { APP_CONFIG, type AppConfig } from "../config/config.ts";

export interface CheckoutSession {
  id: string;
  url: string;
}

/** A Stripe event we act on, reduced to what billing needs. */
export interface VerifiedStripeEvent {
  id: string;
  type: string;
  session?: {
    id: string;
    accountId?: string;
    amountTotalCents?: number;
    currency?: string;
    paymentStatus?: string;
  };
}

const MICROS_PER_CENT = MICROS_PER_USD / 100;

/**
 * Stripe through the official `stripe` package: Checkout Sessions and webhook signatures.
 * STRIPE_API_BASE_URL points the client elsewhere (tests run a local imitation of the API).
 */
@Injectable()
export class StripeGateway {
  /** The stripe package (~90 ms and 4 MB to load), loaded by the first payment call. */
  private library?: Promise<typeof Stripe>;
  private client?: Promise<Stripe>;

  constructor(
    @Inject(APP_CONFIG) private readonly config: Pick<
      AppConfig,
      "stripeSecretKey" | "stripeWebhookSecret" | "stripeApiBaseUrl"
    >,
  ) {}

  private stripe(): Promise<typeof Stripe> {
    this.library ??= import("stripe").then((module) => module.default);
    return this.library;
  }

  async createCheckoutSession(
    accountId: string,
    amountMicros: Micros,
    idempotencyKey: string,
    /** The console's public origin (common/public-origin.ts): Stripe sends the payer back there. */
    returnOrigin: string,
  ): Promise<CheckoutSession> {
    const secretKey = this.config.stripeSecretKey;
    if (!secretKey) {
      throw new ApiError(503, "Payments are not configured on this gateway (STRIPE_SECRET_KEY).", {
        code: "payments_not_configured",
      });
    }
    this.client ??= this.stripe().then((library) =>
      createStripeClient(library, secretKey, this.config.stripeApiBaseUrl)
    );
    const client = await this.client;
    const base = returnOrigin.replace(/\/+$/, "");
    let session: Stripe.Checkout.Session;
    try {
      session = await client.checkout.sessions.create({
        mode: "payment",
        client_reference_id: accountId,
        metadata: { account_id: accountId, amount_micros: String(amountMicros) },
        line_items: [{
          quantity: 1,
          price_data: {
            currency: "usd",
            unit_amount: amountMicros / MICROS_PER_CENT,
            product_data: { name: "ModelPilot credits" },
          },
        }],
        success_url: `${base}/billing?checkout=success&session_id={CHECKOUT_SESSION_ID}`,
        cancel_url: `${base}/billing?checkout=cancelled`,
      }, { idempotencyKey });
    } catch (error) {
      // Stripe's text can name the key's suffix, the account's settings or the API host: it is
      // for the operator's log. The client gets Stripe's code and request id to quote.
      const failure = error as Error & {
        code?: unknown;
        requestId?: unknown;
        statusCode?: unknown;
      };
      const providerCode = typeof failure.code === "string" ? failure.code : undefined;
      const providerRequestId = typeof failure.requestId === "string"
        ? failure.requestId
        : undefined;
      logger.write("error", "Stripe checkout session create failed", {
        error: failure.message,
        providerCode,
        providerRequestId,
        providerStatus: failure.statusCode,
      });
      throw new ApiError(502, "The payment provider refused or failed the request.", {
        type: "api_error",
        code: "payment_provider_error",
        extra: {
          ...(providerCode ? { provider_code: providerCode } : {}),
          ...(providerRequestId ? { provider_request_id: providerRequestId } : {}),
        },
      });
    }
    if (!session.url) {
      throw new ApiError(502, "The payment provider returned no checkout URL.", {
        type: "api_error",
        code: "payment_provider_error",
      });
    }
    return { id: session.id, url: session.url };
  }

  /** Verifies the `stripe-signature` header over the exact raw body; a 400 when it fails. */
  async verifyWebhook(
    rawBody: Uint8Array | string,
    signature: string | undefined,
  ): Promise<VerifiedStripeEvent> {
    const secret = this.config.stripeWebhookSecret;
    if (!secret) {
      throw new ApiError(503, "Stripe webhooks are not configured (STRIPE_WEBHOOK_SECRET).", {
        code: "payments_not_configured",
      });
    }
    if (!signature) {
      throw ApiError.badRequest("Missing Stripe-Signature header.", null, "invalid_signature");
    }
    let event: Stripe.Event;
    try {
      const { webhooks } = await this.stripe();
      event = await webhooks.constructEventAsync(rawBody, signature, secret);
    } catch {
      throw ApiError.badRequest("Invalid Stripe webhook signature.", null, "invalid_signature");
    }
    const result: VerifiedStripeEvent = { id: event.id, type: event.type };
    if (
      event.type === "checkout.session.completed" ||
      event.type === "checkout.session.async_payment_succeeded"
    ) {
      const session = event.data.object;
      result.session = {
        id: session.id,
        accountId: session.metadata?.account_id ?? session.client_reference_id ?? undefined,
        amountTotalCents: session.amount_total ?? undefined,
        currency: session.currency ?? undefined,
        paymentStatus: session.payment_status,
      };
    }
    return result;
  }
}

export function centsToMicros(cents: number): Micros {
  return cents * MICROS_PER_CENT;
}

function createStripeClient(library: typeof Stripe, secretKey: string, baseUrl?: string): Stripe {
  const options: ConstructorParameters<typeof Stripe>[1] = {
    httpClient: library.createFetchHttpClient(),
    maxNetworkRetries: 2,
    timeout: 20_000,
  };
  if (baseUrl) {
    const url = new URL(baseUrl);
    options.host = url.hostname;
    options.protocol = url.protocol === "http:" ? "http" : "https";
    options.port = url.port || (url.protocol === "http:" ? 80 : 443);
  }
  return new library(secretKey, options);
}
