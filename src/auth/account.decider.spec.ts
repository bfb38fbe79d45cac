import { deciderSpec } from "../../test/support/decider-spec.ts";
import {
  type AccountCommand,
  accountDecider,
  emailClaimDecider,
  sessionDecider,
} from "./account.decider.ts";
import type { AccountEvent, EmailClaimEvent, SessionEvent } from "./auth.events.ts";

const NOW = "2026-01-01T00:00:00.000Z";
const registered: AccountEvent = {
  type: "AccountRegistered",
  data: { accountId: "acct_1", email: "a@example.com", origin: "signup", registeredAt: NOW },
};
const keyCreated: AccountEvent = {
  type: "ApiKeyCreated",
  data: {
    accountId: "acct_1",
    keyId: "key_1",
    name: "ci",
    permissions: ["read"],
    prefix: "mp_live_abcd",
    keyHash: "00",
    createdAt: NOW,
  },
};

describe("account decider", () => {
  const spec = deciderSpec(accountDecider);

  it("registers an account with its password hash in a separate event", () => {
    spec.given([]).when({
      type: "RegisterAccount",
      accountId: "acct_1",
      email: "a@example.com",
      origin: "signup",
      passwordHash: "scrypt$...",
      now: NOW,
    }).then([registered, {
      type: "PasswordSet",
      data: { accountId: "acct_1", passwordHash: "scrypt$..." },
    }]);
  });

  it("registers an admin-created account without a password", () => {
    spec.given([]).when({
      type: "RegisterAccount",
      accountId: "acct_1",
      email: "a@example.com",
      origin: "admin",
      now: NOW,
    }).then((events) => expect(events.map((event) => event.type)).toEqual(["AccountRegistered"]));
  });

  it("refuses to register an account twice", () => {
    spec.given([registered]).when({
      type: "RegisterAccount",
      accountId: "acct_1",
      email: "a@example.com",
      origin: "admin",
      now: NOW,
    }).thenRejects("account_exists", "The account already exists.");
  });

  it("refuses keys for an account that does not exist", () => {
    spec.given([]).when({ type: "CreateApiKey", key: keyCreated.data as never, now: NOW })
      .thenRejects("account_not_found");
  });

  it("creates a key once, even when the command is retried", () => {
    const { createdAt: _createdAt, ...key } = keyCreated.data as { createdAt: string };
    const command = { type: "CreateApiKey", key, now: NOW } as AccountCommand;
    spec.given([registered]).when(command).then([keyCreated]);
    spec.given([registered, keyCreated]).when(command).then([]);
  });

  it("revokes a key once and refuses unknown keys", () => {
    const revoke = { type: "RevokeApiKey", accountId: "acct_1", keyId: "key_1", now: NOW } as const;
    const revoked = spec.given([registered, keyCreated]).when(revoke).then([{
      type: "ApiKeyRevoked",
      data: { accountId: "acct_1", keyId: "key_1", revokedAt: NOW },
    }]);
    spec.given([registered, keyCreated, ...revoked]).when(revoke).then([]);
    spec.given([registered]).when(revoke).thenRejects("api_key_not_found", /No API key/);
  });
});

describe("email claim decider", () => {
  const spec = deciderSpec(emailClaimDecider);
  const claimed: EmailClaimEvent = {
    type: "EmailClaimed",
    data: { emailHash: "h", accountId: "acct_1" },
  };
  const released: EmailClaimEvent = {
    type: "EmailReleased",
    data: { emailHash: "h", accountId: "acct_1" },
  };

  it("claims a free email and refuses a claimed one", () => {
    spec.given([]).when({ type: "ClaimEmail", emailHash: "h", accountId: "acct_1" })
      .then([claimed]);
    spec.given([claimed]).when({ type: "ClaimEmail", emailHash: "h", accountId: "acct_2" })
      .thenRejects("email_taken", "An account with this email already exists.");
  });

  it("lets a released email be claimed again, by the owner only releasing", () => {
    spec.given([claimed]).when({ type: "ReleaseEmail", emailHash: "h", accountId: "acct_2" })
      .then([]);
    spec.given([claimed]).when({ type: "ReleaseEmail", emailHash: "h", accountId: "acct_1" })
      .then([released]);
    spec.given([claimed, released])
      .when({ type: "ClaimEmail", emailHash: "h", accountId: "acct_2" })
      .then((events) => expect(events).toHaveLength(1));
  });
});

describe("session decider", () => {
  const spec = deciderSpec(sessionDecider);
  const started: SessionEvent = {
    type: "SessionStarted",
    data: {
      sessionId: "sess_1",
      accountId: "acct_1",
      tokenHash: "00",
      startedAt: NOW,
      expiresAt: "2026-01-02T00:00:00.000Z",
    },
  };

  it("starts a session once", () => {
    spec.given([]).when({ type: "StartSession", session: started.data }).then([started]);
    spec.given([started]).when({ type: "StartSession", session: started.data })
      .thenRejects("session_exists");
  });
});
