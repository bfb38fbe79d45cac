import type { CreatedApiKey } from "./api-key.handler.ts";
import type { ApiKeySummary } from "./api-keys.queries.ts";

/** How API keys read over HTTP, for the caller's own keys and the operators' API alike. */

/** The one reply that carries the full key (creation and rotation). */
export function createdKeyBody(created: CreatedApiKey) {
  return {
    id: created.id,
    key: created.key,
    name: created.name,
    permissions: created.permissions,
    prefix: created.prefix,
    created_at: created.createdAt,
    expires_at: created.expiresAt,
    previous_valid_until: created.previousValidUntil,
  };
}

export function keySummaryBody(key: ApiKeySummary) {
  return {
    id: key.id,
    object: "api_key",
    name: key.name,
    permissions: key.permissions,
    prefix: key.prefix,
    created_at: key.createdAt,
    last_used_at: key.lastUsedAt,
    expires_at: key.expiresAt,
    previous_valid_until: key.previousValidUntil,
  };
}
