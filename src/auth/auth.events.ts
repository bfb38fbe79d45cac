import type { Permission } from "./principal.ts";

/**
 * The auth module's events. Secrets never appear here: API keys and session tokens only as
 * SHA-256 hashes, passwords only as scrypt hashes (in their own event, so browsing tools can
 * hide it), emails in claim streams only as SHA-256 of the normalised address.
 */

/** `account-<accountId>`: the account, its password and its API keys. */
export const accountStream = (accountId: string) => `account-${accountId}`;
/** `emailclaim-<sha256(normalised email)>`: appended with expectedRevision to make emails unique. */
export const emailClaimStream = (emailHash: string) => `emailclaim-${emailHash}`;
/** `session-<sessionId>`: one login. */
export const sessionStream = (sessionId: string) => `session-${sessionId}`;
/** `keyusage-<instanceId>`: batched last-used times flushed by one instance. */
export const keyUsageStream = (instanceId: string) => `keyusage-${instanceId}`;

export interface EmailClaimedData {
  emailHash: string;
  accountId: string;
}
export interface EmailReleasedData {
  emailHash: string;
  accountId: string;
}

export interface AccountRegisteredData {
  accountId: string;
  email: string;
  /** `signup` (with a password) or `admin` (no password; works through API keys). */
  origin: "signup" | "admin";
  registeredAt: string;
}

export interface PasswordSetData {
  accountId: string;
  /** `scrypt$N$r$p$salt$hash` (base64); see password.ts. */
  passwordHash: string;
}

export interface ApiKeyCreatedData {
  accountId: string;
  keyId: string;
  name: string;
  permissions: Permission[];
  /** `mp_live_` + the first 4 characters of the secret part: safe to show. */
  prefix: string;
  /** Hex SHA-256 of the whole key. */
  keyHash: string;
  createdAt: string;
}

export interface ApiKeyRevokedData {
  accountId: string;
  keyId: string;
  revokedAt: string;
}

export interface SessionStartedData {
  sessionId: string;
  accountId: string;
  /** Hex SHA-256 of the session token. */
  tokenHash: string;
  startedAt: string;
  expiresAt: string;
}

export interface ApiKeysUsedData {
  keys: Array<{ keyId: string; accountId: string; lastUsedAt: string }>;
}

export type AccountEvent =
  | { type: "AccountRegistered"; data: AccountRegisteredData }
  | { type: "PasswordSet"; data: PasswordSetData }
  | { type: "ApiKeyCreated"; data: ApiKeyCreatedData }
  | { type: "ApiKeyRevoked"; data: ApiKeyRevokedData };

export type EmailClaimEvent =
  | { type: "EmailClaimed"; data: EmailClaimedData }
  | { type: "EmailReleased"; data: EmailReleasedData };

export type SessionEvent = { type: "SessionStarted"; data: SessionStartedData };

export const AUTH_EVENT_TYPES = [
  "AccountRegistered",
  "PasswordSet",
  "ApiKeyCreated",
  "ApiKeyRevoked",
  "SessionStarted",
  "ApiKeysUsed",
] as const;
