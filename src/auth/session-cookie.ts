import { createHash } from "node:crypto";
import type { FastifyReply, FastifyRequest } from "fastify";

/**
 * The console's session: the login session token in an HttpOnly cookie, plus a CSRF token the
 * page can read. The CSRF token is stateless and bound to the session (a hash of its token), so
 * every instance checks it without shared state, and it dies with the session. SameSite=Lax
 * already keeps other sites' forms from sending the cookie on POSTs; the header check closes
 * what Lax leaves open (same-site subdomains, older browsers).
 */

export const SESSION_COOKIE = "mp_session";
export const CSRF_COOKIE = "mp_csrf";
/** Lower-case, as Node presents request headers. */
export const CSRF_HEADER = "x-csrf-token";

/** `base64url(sha256("csrf:" + sessionToken))`. */
export function csrfTokenFor(sessionToken: string): string {
  return createHash("sha256").update(`csrf:${sessionToken}`).digest("base64url");
}

/** The named cookie's value from a `Cookie` header; undefined when absent or not a string. */
export function readCookie(cookieHeader: unknown, name: string): string | undefined {
  if (typeof cookieHeader !== "string") return undefined;
  for (const pair of cookieHeader.split(";")) {
    const equals = pair.indexOf("=");
    if (equals === -1 || pair.slice(0, equals).trim() !== name) continue;
    const value = pair.slice(equals + 1).trim();
    return value === "" ? undefined : value;
  }
  return undefined;
}

export function setSessionCookies(
  reply: FastifyReply,
  request: FastifyRequest,
  token: string,
  maxAgeSeconds: number,
): void {
  const attributes = cookieAttributes(request, maxAgeSeconds);
  appendSetCookie(reply, `${SESSION_COOKIE}=${token}; HttpOnly; ${attributes}`);
  // Readable by the page, which echoes it in X-CSRF-Token; useless to a site that cannot read it.
  appendSetCookie(reply, `${CSRF_COOKIE}=${csrfTokenFor(token)}; ${attributes}`);
}

export function clearSessionCookies(reply: FastifyReply, request: FastifyRequest): void {
  const attributes = `${cookieAttributes(request, 0)}; Expires=Thu, 01 Jan 1970 00:00:00 GMT`;
  appendSetCookie(reply, `${SESSION_COOKIE}=; HttpOnly; ${attributes}`);
  appendSetCookie(reply, `${CSRF_COOKIE}=; ${attributes}`);
}

function cookieAttributes(request: FastifyRequest, maxAgeSeconds: number): string {
  // request.protocol honours TRUST_PROXY's X-Forwarded-Proto, so TLS ended at a proxy counts.
  const secure = request.protocol === "https" ? "; Secure" : "";
  return `Path=/; Max-Age=${Math.max(0, Math.floor(maxAgeSeconds))}; SameSite=Lax${secure}`;
}

/** Fastify appends each Set-Cookie to those already set (other cookies of the reply survive). */
function appendSetCookie(reply: FastifyReply, cookie: string): void {
  reply.header("set-cookie", cookie);
}
