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

export type AccountOrigin = "signup" | "admin" | "oauth";

export interface AccountRegisteredData {
  accountId: string;
  email: string;
  /**
   * `signup` (with a password), `admin` (no password; works through API keys) or `oauth` (no
   * password; logs in through the linked provider, see LoginMethodLinked).
   */
  origin: AccountOrigin;
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
  /** When the key stops working; absent: never. */
  expiresAt?: string;
}

/** A new secret for the same key id, name and permissions. */
export interface ApiKeyRotatedData {
  accountId: string;
  keyId: string;
  /** The new secret's display prefix and hash. */
  prefix: string;
  keyHash: string;
  /** The replaced secret's hash, accepted until `previousValidUntil` (null: not at all). */
  previousKeyHash: string;
  previousValidUntil: string | null;
  rotatedAt: string;
}

/** A new password; every session of the account but `keptSessionId` ends with it. */
export interface PasswordChangedData {
  accountId: string;
  /** `scrypt$N$r$p$salt$hash` (base64); hidden from operator tools like PasswordSet's. */
  passwordHash: string;
  /** The session that asked for the change (absent: an API key asked, so none is kept). */
  keptSessionId?: string;
  changedAt: string;
}

/** An external identity (OAuth/OIDC) that logs in to this account. */
export interface LoginMethodLinkedData {
  accountId: string;
  /** `github`, `google`, `oidc`. */
  provider: string;
  /** The provider's stable user id (`sub`, GitHub's numeric id). */
  subject: string;
  /** The verified email the provider gave when linking. */
  email: string;
  at: string;
}

/** An operator stopped the account: its keys and sessions are refused (403 account_disabled). */
export interface AccountDisabledData {
  accountId: string;
  at: string;
}

export interface AccountEnabledData {
  accountId: string;
  at: string;
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

/**
 * Why a session ended. A password change needs no SessionEnded per session: PasswordChanged
 * itself ends every other session of the account, in one append (see the credentials
 * projection), so no session outlives the change even if the writer stops halfway.
 */
export type SessionEndReason = "logout" | "revoked";

export interface SessionEndedData {
  sessionId: string;
  accountId: string;
  reason: SessionEndReason;
  at: string;
}

export interface ApiKeysUsedData {
  keys: Array<{ keyId: string; accountId: string; lastUsedAt: string }>;
}

export type AccountEvent =
  | { type: "AccountRegistered"; data: AccountRegisteredData }
  | { type: "PasswordSet"; data: PasswordSetData }
  | { type: "ApiKeyCreated"; data: ApiKeyCreatedData }
  | { type: "ApiKeyRevoked"; data: ApiKeyRevokedData }
  | { type: "ApiKeyRotated"; data: ApiKeyRotatedData }
  | { type: "PasswordChanged"; data: PasswordChangedData }
  | { type: "LoginMethodLinked"; data: LoginMethodLinkedData }
  | { type: "AccountDisabled"; data: AccountDisabledData }
  | { type: "AccountEnabled"; data: AccountEnabledData };

export type EmailClaimEvent =
  | { type: "EmailClaimed"; data: EmailClaimedData }
  | { type: "EmailReleased"; data: EmailReleasedData };

export type SessionEvent =
  | { type: "SessionStarted"; data: SessionStartedData }
  | { type: "SessionEnded"; data: SessionEndedData };

export const AUTH_EVENT_TYPES = [
  "AccountRegistered",
  "PasswordSet",
  "ApiKeyCreated",
  "ApiKeyRevoked",
  "SessionStarted",
  "ApiKeysUsed",
  "ApiKeyRotated",
  "PasswordChanged",
  "LoginMethodLinked",
  "AccountDisabled",
  "AccountEnabled",
  "SessionEnded",
] as const;
