import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface FakeStripe {
  /** `http://127.0.0.1:<port>`, for STRIPE_API_BASE_URL. */
  url: string;
  /** Form fields of every Checkout Session create request received. */
  sessionRequests: Array<
    { fields: URLSearchParams; authorization?: string; idempotencyKey?: string }
  >;
  close(): Promise<void>;
}

/** A local imitation of Stripe's `POST /v1/checkout/sessions`, enough for the official client. */
export async function startFakeStripe(): Promise<FakeStripe> {
  const sessionRequests: FakeStripe["sessionRequests"] = [];
  let sequence = 0;
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      response.setHeader("content-type", "application/json");
      response.setHeader("request-id", `req_fake_${++sequence}`);
      if (request.method !== "POST" || request.url !== "/v1/checkout/sessions") {
        response.statusCode = 404;
        response.end(
          JSON.stringify({
            error: { type: "invalid_request_error", message: "Unrecognized request URL" },
          }),
        );
        return;
      }
      const fields = new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
      sessionRequests.push({
        fields,
        authorization: request.headers.authorization,
        idempotencyKey: request.headers["idempotency-key"] as string | undefined,
      });
      const id = `cs_test_${sequence}`;
      response.end(JSON.stringify({
        id,
        object: "checkout.session",
        mode: fields.get("mode"),
        amount_total: Number(fields.get("line_items[0][price_data][unit_amount]")),
        currency: fields.get("line_items[0][price_data][currency]"),
        client_reference_id: fields.get("client_reference_id"),
        metadata: { account_id: fields.get("metadata[account_id]") },
        payment_status: "unpaid",
        status: "open",
        url: `https://checkout.stripe.test/c/pay/${id}`,
      }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    sessionRequests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
