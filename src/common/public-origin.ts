/**
 * The origin clients reach this gateway at, for absolute links (artifact URLs, Stripe's return
 * pages). PUBLIC_BASE_URL wins when set. Otherwise the request says: Fastify's `protocol` and
 * `host` already honour X-Forwarded-Proto/-Host only when the hop is a trusted proxy (TRUST_PROXY),
 * and fall back to the socket's scheme and the Host header. A gateway on port 8080 thus links to
 * port 8080, not to a fixed `localhost:3000`.
 */
export interface OriginRequest {
  /** Fastify: `https`/`http`, from X-Forwarded-Proto only behind a trusted proxy. */
  protocol?: string;
  /** Fastify: the Host header, or X-Forwarded-Host behind a trusted proxy. */
  host?: string;
  headers?: Record<string, unknown>;
}

/** A DNS name, IPv4 address or bracketed IPv6 address, with an optional port. */
const HOST =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}))*\.?|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?$/;
/** Where links point when the request names no usable host (HTTP/1.0 without Host, junk). */
const FALLBACK_HOST = "localhost";

export function publicOrigin(
  request: OriginRequest,
  config: { publicBaseUrl?: string },
): string {
  if (config.publicBaseUrl) return config.publicBaseUrl.replace(/\/+$/, "");
  const protocol = request.protocol === "https" ? "https" : "http";
  const raw = request.host ?? request.headers?.host;
  // A Host header is client-written: one that is not a plain host[:port] never becomes a link.
  const host = typeof raw === "string" && raw.length <= 260 && HOST.test(raw)
    ? raw.toLowerCase()
    : FALLBACK_HOST;
  return `${protocol}://${host}`;
}
