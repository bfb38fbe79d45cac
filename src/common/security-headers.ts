import type { FastifyReply } from "fastify";

/**
 * The policy of every page the gateway serves (the console and /docs): its own files only, no inline script or style, no framing, forms and
 * fetches to this origin alone. Generated media shows as data:/blob: URLs or same-origin links.
 */
export const CONSOLE_CSP = "default-src 'self'; script-src 'self'; style-src 'self'; " +
  "img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; " +
  "frame-ancestors 'none'; base-uri 'self'; form-action 'self'";

/** Sent with every console response, the page, its assets and the not-built page alike. */
export const CONSOLE_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy": CONSOLE_CSP,
  "x-content-type-options": "nosniff",
  "referrer-policy": "same-origin",
  "x-frame-options": "DENY",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
  "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=()",
};

export function applySecurityHeaders(reply: FastifyReply): void {
  for (const [name, value] of Object.entries(CONSOLE_SECURITY_HEADERS)) reply.header(name, value);
}
