import type { CreatedApiKey } from "./account.handler.ts";
import type { ApiKeySummary } from "./api-keys.queries.ts";

/** How API keys read over HTTP, for the caller's own keys and the operators' API alike. */

/** The one reply that carries the full key. */
export function createdKeyBody(created: CreatedApiKey) {
  return {
    id: created.id,
    key: created.key,
    name: created.name,
    permissions: created.permissions,
    prefix: created.prefix,
    created_at: created.createdAt,
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
  };
}
