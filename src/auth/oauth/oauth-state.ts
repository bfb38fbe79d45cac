import { Buffer } from "node:buffer";
import { createHmac, timingSafeEqual } from "node:crypto";

/**
 * What a sign-in must remember between `/start` and `/callback`: the state, the PKCE verifier,
 * the OIDC nonce and the redirect URI the provider was sent. It travels in a short-lived
 * HttpOnly cookie (`OAUTH_STATE_COOKIE`) whose value is `<payload>.<HMAC-SHA256>`, so nothing is
 * stored on the server (every instance can finish a sign-in another one started) and a forged,
 * altered or expired cookie is refused.
 */
export interface OAuthPending {
  provider: string;
  state: string;
  codeVerifier: string;
  /** OpenID Connect only; GitHub has no ID token to carry it. */
  nonce?: string;
  redirectUri: string;
  /** Milliseconds since the epoch. */
  expiresAt: number;
}

export const OAUTH_STATE_COOKIE = "mp_oauth";
/** Only the callback routes need it. */
export const OAUTH_STATE_COOKIE_PATH = "/api/auth/oauth";
/** Long enough to sign in at the provider (and maybe reset a password), short enough to go stale. */
export const OAUTH_STATE_TTL_SECONDS = 600;
/** Browsers keep cookies up to about 4 KB; ours is well under 1 KB, anything longer is hostile. */
const MAX_COOKIE_LENGTH = 2048;

export function sealPending(key: Buffer, pending: OAuthPending): string {
  const payload = Buffer.from(JSON.stringify(pending), "utf8").toString("base64url");
  return `${payload}.${mac(key, payload)}`;
}

/** The pending sign-in the cookie holds, or undefined when it is missing, forged or expired. */
export function openPending(
  key: Buffer,
  cookie: string | undefined,
  nowMs: number,
): OAuthPending | undefined {
  if (!cookie || cookie.length > MAX_COOKIE_LENGTH) return undefined;
  const [payload, signature, ...rest] = cookie.split(".");
  if (!payload || !signature || rest.length > 0) return undefined;
  const expected = Buffer.from(mac(key, payload), "base64url");
  const given = Buffer.from(signature, "base64url");
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
  let pending: Partial<OAuthPending>;
  try {
    pending = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
  } catch {
    return undefined;
  }
  const valid = typeof pending.provider === "string" && typeof pending.state === "string" &&
    typeof pending.codeVerifier === "string" && typeof pending.redirectUri === "string" &&
    (pending.nonce === undefined || typeof pending.nonce === "string") &&
    typeof pending.expiresAt === "number" && pending.expiresAt > nowMs;
  return valid ? pending as OAuthPending : undefined;
}

function mac(key: Buffer, payload: string): string {
  return createHmac("sha256", key).update(`oauth-state:${payload}`, "utf8").digest("base64url");
}

/** `Set-Cookie` for the pending sign-in; an empty value with Max-Age=0 clears it. */
export function pendingCookie(value: string, maxAgeSeconds: number, secure: boolean): string {
  return [
    `${OAUTH_STATE_COOKIE}=${value}`,
    `Path=${OAUTH_STATE_COOKIE_PATH}`,
    `Max-Age=${maxAgeSeconds}`,
    "HttpOnly",
    // Lax: the provider's redirect back is a top-level GET, which still carries the cookie.
    "SameSite=Lax",
    ...(secure ? ["Secure"] : []),
  ].join("; ");
}
