import type { DatabaseSync } from "node:sqlite";
import type { RecordedEvent } from "../event-store/event-store.port.ts";
import type { Projection } from "../projections/projection.ts";
import type {
  AccountRegisteredData,
  LoginMethodLinkedData,
  PasswordSetData,
} from "./auth.events.ts";
import { ensureColumns } from "./read-model-columns.ts";

export const ACCOUNTS_PROJECTION = "auth-accounts";

/**
 * `auth_accounts`: one row per registered account (no password hashes here: only whether there
 * is one), whether it is disabled; `auth_login_methods`: its linked external logins.
 * Version 2 added `has_password` and the login methods, which older PasswordSet events fill in:
 * the version bump rebuilds it.
 */
export const accountsProjection: Projection = {
  name: ACCOUNTS_PROJECTION,
  version: 2,
  filter: {
    eventTypes: [
      "AccountRegistered",
      "PasswordSet",
      "PasswordChanged",
      "LoginMethodLinked",
      "AccountDisabled",
      "AccountEnabled",
    ],
  },
  setup(db: DatabaseSync) {
    db.exec(`CREATE TABLE IF NOT EXISTS auth_accounts (
      id TEXT PRIMARY KEY, email TEXT NOT NULL, origin TEXT NOT NULL, created_at TEXT NOT NULL)`);
    ensureColumns(db, "auth_accounts", {
      has_password: "INTEGER NOT NULL DEFAULT 0",
      disabled: "INTEGER NOT NULL DEFAULT 0",
    });
    db.exec("CREATE INDEX IF NOT EXISTS auth_accounts_email ON auth_accounts (email)");
    db.exec(`CREATE TABLE IF NOT EXISTS auth_login_methods (
      provider TEXT NOT NULL, subject TEXT NOT NULL, account_id TEXT NOT NULL, email TEXT NOT NULL,
      linked_at TEXT NOT NULL, PRIMARY KEY (provider, subject, account_id))`);
    db.exec(
      "CREATE INDEX IF NOT EXISTS auth_login_methods_account ON auth_login_methods (account_id)",
    );
  },
  reset(db: DatabaseSync) {
    db.exec("DELETE FROM auth_accounts");
    db.exec("DELETE FROM auth_login_methods");
  },
  apply(event: RecordedEvent, db: DatabaseSync) {
    switch (event.type) {
      case "AccountRegistered": {
        const data = event.data as AccountRegisteredData;
        db.prepare(
          "INSERT OR IGNORE INTO auth_accounts (id, email, origin, created_at) VALUES (?, ?, ?, ?)",
        ).run(data.accountId, data.email, data.origin, data.registeredAt);
        break;
      }
      case "PasswordSet":
      case "PasswordChanged": {
        const data = event.data as Pick<PasswordSetData, "accountId">;
        db.prepare("UPDATE auth_accounts SET has_password = 1 WHERE id = ?").run(data.accountId);
        break;
      }
      case "LoginMethodLinked": {
        const data = event.data as LoginMethodLinkedData;
        db.prepare(
          `INSERT OR IGNORE INTO auth_login_methods (provider, subject, account_id, email, linked_at)
           VALUES (?, ?, ?, ?, ?)`,
        ).run(data.provider, data.subject, data.accountId, data.email, data.at);
        break;
      }
      case "AccountDisabled":
      case "AccountEnabled": {
        const { accountId } = event.data as { accountId: string };
        db.prepare("UPDATE auth_accounts SET disabled = ? WHERE id = ?")
          .run(event.type === "AccountDisabled" ? 1 : 0, accountId);
        break;
      }
    }
  },
};
