import { DatabaseSync } from "node:sqlite";
import type { RecordedEvent } from "../event-store/event-store.port.ts";
import { credentialsProjection } from "./credentials.projection.ts";

let position = 0n;
function recorded(type: string, data: unknown): RecordedEvent {
  position++;
  return {
    id: `e${position}`,
    type,
    data,
    metadata: {},
    stream: "account-acct_1",
    revision: position,
    position,
    createdAt: new Date(),
  };
}

describe("credentials projection", () => {
  it("keeps keys by hash, marks revocations and keeps the newest last-used time", () => {
    const db = new DatabaseSync(":memory:");
    credentialsProjection.setup(db);
    const events = [
      recorded("ApiKeyCreated", {
        accountId: "acct_1",
        keyId: "key_1",
        name: "ci",
        permissions: ["read"],
        prefix: "mp_live_abcd",
        keyHash: "ab".repeat(32),
        createdAt: "2026-01-01T00:00:00.000Z",
      }),
      recorded("ApiKeysUsed", {
        keys: [{ keyId: "key_1", accountId: "acct_1", lastUsedAt: "2026-01-02T00:00:00.000Z" }],
      }),
      recorded("ApiKeysUsed", {
        keys: [{ keyId: "key_1", accountId: "acct_1", lastUsedAt: "2026-01-01T12:00:00.000Z" }],
      }),
      recorded("ApiKeyRevoked", {
        accountId: "acct_1",
        keyId: "key_1",
        revokedAt: "2026-01-03T00:00:00.000Z",
      }),
    ];
    for (const event of events) credentialsProjection.apply(event, db);
    const row = () =>
      db.prepare("SELECT * FROM auth_api_keys WHERE key_hash = ?").get("ab".repeat(32));
    expect(row()).toMatchObject({
      id: "key_1",
      permissions: '["read"]',
      last_used_at: "2026-01-02T00:00:00.000Z",
      revoked_at: "2026-01-03T00:00:00.000Z",
    });

    // A rebuild reproduces the same row.
    const before = row();
    credentialsProjection.reset(db);
    for (const event of events) credentialsProjection.apply(event, db);
    expect(row()).toEqual(before);
  });

  it("honours a rotated key's old hash only with a grace period, and ends sessions", () => {
    const db = new DatabaseSync(":memory:");
    credentialsProjection.setup(db);
    // Setting up twice (a restart over an existing read model) changes nothing.
    credentialsProjection.setup(db);
    const session = (id: string) =>
      recorded("SessionStarted", {
        sessionId: id,
        accountId: "acct_1",
        tokenHash: id.padEnd(64, "0"),
        startedAt: "2026-01-01T00:00:00.000Z",
        expiresAt: "2026-01-08T00:00:00.000Z",
      });
    const events = [
      recorded("ApiKeyCreated", {
        accountId: "acct_1",
        keyId: "key_1",
        name: "ci",
        permissions: ["read"],
        prefix: "mp_live_abcd",
        keyHash: "ab".repeat(32),
        createdAt: "2026-01-01T00:00:00.000Z",
        expiresAt: "2027-01-01T00:00:00.000Z",
      }),
      recorded("ApiKeyRotated", {
        accountId: "acct_1",
        keyId: "key_1",
        prefix: "mp_live_wxyz",
        keyHash: "cd".repeat(32),
        previousKeyHash: "ab".repeat(32),
        previousValidUntil: "2026-01-02T00:00:00.000Z",
        rotatedAt: "2026-01-01T00:00:00.000Z",
      }),
      session("s1"),
      session("s2"),
      session("s3"),
      recorded("SessionEnded", {
        sessionId: "s1",
        accountId: "acct_1",
        reason: "logout",
        at: "2026-01-01T01:00:00.000Z",
      }),
      recorded("PasswordChanged", {
        accountId: "acct_1",
        passwordHash: "scrypt$x",
        keptSessionId: "s2",
        changedAt: "2026-01-01T02:00:00.000Z",
      }),
      session("s4"),
      recorded("AccountDisabled", { accountId: "acct_1", at: "2026-01-01T03:00:00.000Z" }),
    ];
    for (const event of events) credentialsProjection.apply(event, db);
    expect(db.prepare("SELECT * FROM auth_api_keys WHERE id = 'key_1'").get()).toMatchObject({
      key_hash: "cd".repeat(32),
      prefix: "mp_live_wxyz",
      previous_key_hash: "ab".repeat(32),
      previous_valid_until: "2026-01-02T00:00:00.000Z",
      expires_at: "2027-01-01T00:00:00.000Z",
    });
    const sessions = db.prepare("SELECT id, end_reason FROM auth_sessions ORDER BY id").all();
    expect(sessions.map((row) => ({ ...row }))).toEqual([
      { id: "s1", end_reason: "logout" },
      { id: "s2", end_reason: null },
      { id: "s3", end_reason: "password_changed" },
      { id: "s4", end_reason: null },
    ]);
    expect(db.prepare("SELECT account_id FROM auth_disabled_accounts").all()).toHaveLength(1);

    // A rotation without grace keeps only the hash it replaced, valid until never; enabling
    // clears the flag.
    credentialsProjection.apply(
      recorded("ApiKeyRotated", {
        accountId: "acct_1",
        keyId: "key_1",
        prefix: "mp_live_efgh",
        keyHash: "ef".repeat(32),
        previousKeyHash: "cd".repeat(32),
        previousValidUntil: null,
        rotatedAt: "2026-01-01T04:00:00.000Z",
      }),
      db,
    );
    credentialsProjection.apply(
      recorded("AccountEnabled", { accountId: "acct_1", at: "2026-01-01T05:00:00.000Z" }),
      db,
    );
    expect({
      ...db.prepare("SELECT previous_key_hash, previous_valid_until FROM auth_api_keys").get(),
    }).toEqual({ previous_key_hash: "cd".repeat(32), previous_valid_until: null });
    expect(db.prepare("SELECT account_id FROM auth_disabled_accounts").all()).toHaveLength(0);
  });

  it("adds the new columns to a version-1 table without losing its rows", () => {
    const db = new DatabaseSync(":memory:");
    db.exec(`CREATE TABLE auth_sessions (
      id TEXT PRIMARY KEY, account_id TEXT NOT NULL, token_hash TEXT NOT NULL UNIQUE,
      started_at TEXT NOT NULL, expires_at TEXT NOT NULL)`);
    db.prepare("INSERT INTO auth_sessions VALUES ('s0', 'acct_1', 'h', 'a', 'b')").run();
    credentialsProjection.setup(db);
    expect({ ...db.prepare("SELECT id, ended_at FROM auth_sessions").get() }).toEqual({
      id: "s0",
      ended_at: null,
    });
  });
});
