import type { DatabaseSync } from "node:sqlite";
import type { RecordedEvent } from "../event-store/event-store.port.ts";
import type { Projection } from "../projections/projection.ts";
import type {
  AccountDisabledData,
  AccountEnabledData,
  ApiKeyCreatedData,
  ApiKeyRevokedData,
  ApiKeyRotatedData,
  ApiKeysUsedData,
  PasswordChangedData,
  SessionEndedData,
  SessionStartedData,
} from "./auth.events.ts";
import { ensureColumns } from "./read-model-columns.ts";

export const CREDENTIALS_PROJECTION = "auth-credentials";

/**
 * `auth_api_keys`, `auth_sessions` and `auth_disabled_accounts`, looked up by the SHA-256 of the
 * presented secret (and the account it belongs to). The guard reads these rows (indexed,
 * microseconds) after making sure this projection has reached the store's head, so a revocation,
 * rotation, logout, password change or disable appended by any instance is seen on the next
 * request. The columns added since version 1 are NULL for every older row, which is what those
 * rows mean, so no rebuild was needed.
 */
export const credentialsProjection: Projection = {
  name: CREDENTIALS_PROJECTION,
  version: 1,
  filter: {
    eventTypes: [
      "ApiKeyCreated",
      "ApiKeyRevoked",
      "ApiKeyRotated",
      "ApiKeysUsed",
      "SessionStarted",
      "SessionEnded",
      "PasswordChanged",
      "AccountDisabled",
      "AccountEnabled",
    ],
  },
  setup(db: DatabaseSync) {
    db.exec(`CREATE TABLE IF NOT EXISTS auth_api_keys (
      id TEXT PRIMARY KEY, account_id TEXT NOT NULL, name TEXT NOT NULL, permissions TEXT NOT NULL,
      prefix TEXT NOT NULL, key_hash TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL,
      revoked_at TEXT, last_used_at TEXT)`);
    ensureColumns(db, "auth_api_keys", {
      expires_at: "TEXT",
      previous_key_hash: "TEXT",
      previous_valid_until: "TEXT",
    });
    db.exec(
      "CREATE INDEX IF NOT EXISTS auth_api_keys_account ON auth_api_keys (account_id, created_at)",
    );
    db.exec(
      "CREATE INDEX IF NOT EXISTS auth_api_keys_previous ON auth_api_keys (previous_key_hash)",
    );
    db.exec(`CREATE TABLE IF NOT EXISTS auth_sessions (
      id TEXT PRIMARY KEY, account_id TEXT NOT NULL, token_hash TEXT NOT NULL UNIQUE,
      started_at TEXT NOT NULL, expires_at TEXT NOT NULL)`);
    ensureColumns(db, "auth_sessions", { ended_at: "TEXT", end_reason: "TEXT" });
    db.exec(
      "CREATE INDEX IF NOT EXISTS auth_sessions_account ON auth_sessions (account_id, started_at)",
    );
    db.exec(`CREATE TABLE IF NOT EXISTS auth_disabled_accounts (
      account_id TEXT PRIMARY KEY, disabled_at TEXT NOT NULL)`);
  },
  reset(db: DatabaseSync) {
    db.exec("DELETE FROM auth_api_keys");
    db.exec("DELETE FROM auth_sessions");
    db.exec("DELETE FROM auth_disabled_accounts");
  },
  apply(event: RecordedEvent, db: DatabaseSync) {
    switch (event.type) {
      case "ApiKeyCreated": {
        const data = event.data as ApiKeyCreatedData;
        db.prepare(
          `INSERT OR IGNORE INTO auth_api_keys (id, account_id, name, permissions, prefix, key_hash,
           created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
        ).run(
          data.keyId,
          data.accountId,
          data.name,
          JSON.stringify(data.permissions),
          data.prefix,
          data.keyHash,
          data.createdAt,
          data.expiresAt ?? null,
        );
        break;
      }
      case "ApiKeyRevoked": {
        const data = event.data as ApiKeyRevokedData;
        db.prepare("UPDATE auth_api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
          .run(data.revokedAt, data.keyId);
        break;
      }
      case "ApiKeyRotated": {
        const data = event.data as ApiKeyRotatedData;
        // Only one earlier secret is ever honoured: the one this rotation replaced, and only
        // while previous_valid_until lies ahead. Without a grace period it is kept to say
        // "rotated" rather than "incorrect" to a client still sending it.
        db.prepare(
          `UPDATE auth_api_keys SET key_hash = ?, prefix = ?, previous_key_hash = ?,
           previous_valid_until = ? WHERE id = ?`,
        ).run(
          data.keyHash,
          data.prefix,
          data.previousKeyHash,
          data.previousValidUntil,
          data.keyId,
        );
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
      case "SessionEnded": {
        const data = event.data as SessionEndedData;
        db.prepare(
          "UPDATE auth_sessions SET ended_at = ?, end_reason = ? WHERE id = ? AND ended_at IS NULL",
        ).run(data.at, data.reason, data.sessionId);
        break;
      }
      case "PasswordChanged": {
        // Every session started before the change (in store order) ends, in the same
        // transaction, on every instance: no window where some still work.
        const data = event.data as PasswordChangedData;
        db.prepare(
          `UPDATE auth_sessions SET ended_at = ?, end_reason = 'password_changed'
           WHERE account_id = ? AND ended_at IS NULL AND id IS NOT ?`,
        ).run(data.changedAt, data.accountId, data.keptSessionId ?? null);
        break;
      }
      case "AccountDisabled": {
        const data = event.data as AccountDisabledData;
        db.prepare(
          "INSERT OR IGNORE INTO auth_disabled_accounts (account_id, disabled_at) VALUES (?, ?)",
        ).run(data.accountId, data.at);
        break;
      }
      case "AccountEnabled": {
        const data = event.data as AccountEnabledData;
        db.prepare("DELETE FROM auth_disabled_accounts WHERE account_id = ?").run(data.accountId);
        break;
      }
    }
  },
};
