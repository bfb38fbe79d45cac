import type { DatabaseSync } from "node:sqlite";
import type { RecordedEvent } from "../event-store/event-store.port.ts";
import type { Projection } from "../projections/projection.ts";
import type { AccountRegisteredData } from "./auth.events.ts";

export const ACCOUNTS_PROJECTION = "auth-accounts";

/** `auth_accounts`: one row per registered account (no password hashes here). */
export const accountsProjection: Projection = {
  name: ACCOUNTS_PROJECTION,
  version: 1,
  filter: { eventTypes: ["AccountRegistered"] },
  setup(db: DatabaseSync) {
    db.exec(`CREATE TABLE IF NOT EXISTS auth_accounts (
      id TEXT PRIMARY KEY, email TEXT NOT NULL, origin TEXT NOT NULL, created_at TEXT NOT NULL)`);
    db.exec("CREATE INDEX IF NOT EXISTS auth_accounts_email ON auth_accounts (email)");
  },
  reset(db: DatabaseSync) {
    db.exec("DELETE FROM auth_accounts");
  },
  apply(event: RecordedEvent, db: DatabaseSync) {
    const data = event.data as AccountRegisteredData;
    db.prepare(
      "INSERT OR IGNORE INTO auth_accounts (id, email, origin, created_at) VALUES (?, ?, ?, ?)",
    ).run(data.accountId, data.email, data.origin, data.registeredAt);
  },
};
