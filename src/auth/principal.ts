/**
 * Who is calling. Set on the request by the auth guards; read with @CurrentPrincipal().
 * Other modules depend on this file and on auth.decorators.ts only.
 */
export type Permission = "read" | "proxy" | "manage";

export const PERMISSIONS: readonly Permission[] = ["read", "proxy", "manage"];

export interface Principal {
  accountId: string;
  /** `api_key` callers have exactly their key's permissions; sessions have all of them. */
  kind: "api_key" | "session";
  keyId?: string;
  /** For sessions: which session (its own request budget, like a key's). */
  sessionId?: string;
  permissions: readonly Permission[];
  /** For event metadata: `account:<id>` or `account:<id>/key:<keyId>`. */
  actor: string;
}

/** The operator behind ADMIN_API_KEY, for event metadata. */
export const ADMIN_ACTOR = "admin";
