import type { DatabaseSync } from "node:sqlite";
import type { RecordedEvent } from "../event-store/event-store.port.ts";
import type { Projection } from "../projections/projection.ts";
import type {
  ApiKeyCreatedData,
  ApiKeyRevokedData,
  ApiKeysUsedData,
  SessionStartedData,
} from "./auth.events.ts";

export const CREDENTIALS_PROJECTION = "auth-credentials";

/**
 * `auth_api_keys` and `auth_sessions`, looked up by the SHA-256 of the presented secret. The
 * guard reads these rows (indexed, microseconds) after making sure this projection has reached
 * the store's head, so a revocation appended by any instance is seen on the next request.
 */
export const credentialsProjection: Projection = {
  name: CREDENTIALS_PROJECTION,
  version: 1,
  filter: { eventTypes: ["ApiKeyCreated", "ApiKeyRevoked", "ApiKeysUsed", "SessionStarted"] },
  setup(db: DatabaseSync) {
    db.exec(`CREATE TABLE IF NOT EXISTS auth_api_keys (
      id TEXT PRIMARY KEY, account_id TEXT NOT NULL, name TEXT NOT NULL, permissions TEXT NOT NULL,
      prefix TEXT NOT NULL, key_hash TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL,
      revoked_at TEXT, last_used_at TEXT)`);
    db.exec(
      "CREATE INDEX IF NOT EXISTS auth_api_keys_account ON auth_api_keys (account_id, created_at)",
    );
    db.exec(`CREATE TABLE IF NOT EXISTS auth_sessions (
      id TEXT PRIMARY KEY, account_id TEXT NOT NULL, token_hash TEXT NOT NULL UNIQUE,
      started_at TEXT NOT NULL, expires_at TEXT NOT NULL)`);
  },
  reset(db: DatabaseSync) {
    db.exec("DELETE FROM auth_api_keys");
    db.exec("DELETE FROM auth_sessions");
  },
  apply(event: RecordedEvent, db: DatabaseSync) {
    switch (event.type) {
      case "ApiKeyCreated": {
        const data = event.data as ApiKeyCreatedData;
        db.prepare(
          `INSERT OR IGNORE INTO auth_api_keys
           (id, account_id, name, permissions, prefix, key_hash, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
        ).run(
          data.keyId,
          data.accountId,
          data.name,
          JSON.stringify(data.permissions),
          data.prefix,
          data.keyHash,
          data.createdAt,
        );
        break;
      }
      case "ApiKeyRevoked": {
        const data = event.data as ApiKeyRevokedData;
        db.prepare("UPDATE auth_api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
          .run(data.revokedAt, data.keyId);
        break;
      }
      case "ApiKeysUsed": {
        const data = event.data as ApiKeysUsedData;
        const update = db.prepare(
          `UPDATE auth_api_keys SET last_used_at = ?
           WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)`,
        );
        for (const use of data.keys) update.run(use.lastUsedAt, use.keyId, use.lastUsedAt);
        break;
      }
      case "SessionStarted": {
        const data = event.data as SessionStartedData;
        db.prepare(
          `INSERT OR IGNORE INTO auth_sessions (id, account_id, token_hash, started_at, expires_at)
           VALUES (?, ?, ?, ?, ?)`,
        ).run(data.sessionId, data.accountId, data.tokenHash, data.startedAt, data.expiresAt);
        break;
      }
    }
  },
};
