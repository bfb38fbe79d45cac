/**
 * Stripe webhook payloads as Stripe sends them (https://docs.stripe.com/api/events/object), for the
 * specs and the fault schedule that deliver them to the webhook route.
 */

/** A `checkout.session.completed` event for a paid Checkout session of `cents` US cents. */
export function checkoutSessionCompleted(
  eventId: string,
  sessionId: string,
  accountId: string,
  cents: number,
) {
  return {
    id: eventId,
    object: "event",
    type: "checkout.session.completed",
    api_version: "2025-01-27.acacia",
    created: Math.floor(Date.now() / 1000),
    data: {
      object: {
        id: sessionId,
        object: "checkout.session",
        amount_total: cents,
        currency: "usd",
        payment_status: "paid",
        client_reference_id: accountId,
        metadata: { account_id: accountId },
      },
    },
  };
}
