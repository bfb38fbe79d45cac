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
});
