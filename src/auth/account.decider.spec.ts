import { deciderSpec } from "../../test/support/decider-spec.ts";
import { type AccountCommand, accountDecider, emailClaimDecider } from "./account.decider.ts";
import { sessionDecider } from "./session.decider.ts";
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

describe("account decider: console account features", () => {
  const spec = deciderSpec(accountDecider);
  const rotate = (keyHash: string, previousValidUntil: string | null = null): AccountCommand => ({
    type: "RotateApiKey",
    key: {
      accountId: "acct_1",
      keyId: "key_1",
      prefix: "mp_live_wxyz",
      keyHash,
      previousValidUntil,
    },
    now: NOW,
  });

  it("registers an OAuth account without a password, linked to its provider identity", () => {
    spec.given([]).when({
      type: "RegisterAccount",
      accountId: "acct_1",
      email: "a@example.com",
      origin: "oauth",
      loginMethod: { provider: "github", subject: "42" },
      now: NOW,
    }).then([
      { ...registered, data: { ...registered.data, origin: "oauth" } } as AccountEvent,
      {
        type: "LoginMethodLinked",
        data: {
          accountId: "acct_1",
          provider: "github",
          subject: "42",
          email: "a@example.com",
          at: NOW,
        },
      },
    ]);
  });

  it("links a provider identity once", () => {
    const link = {
      type: "LinkLoginMethod",
      accountId: "acct_1",
      method: { provider: "google", subject: "s" },
      email: "a@example.com",
      now: NOW,
    } as const;
    const linked = spec.given([registered]).when(link).then();
    expect(linked.map((event) => event.type)).toEqual(["LoginMethodLinked"]);
    spec.given([registered, ...linked]).when(link).then([]);
    spec.given([]).when(link).thenRejects("account_not_found");
  });

  it("rotates a live key, recording the replaced hash, and refuses revoked or unknown keys", () => {
    spec.given([registered, keyCreated]).when(rotate("cd".repeat(32), NOW)).then([{
      type: "ApiKeyRotated",
      data: {
        accountId: "acct_1",
        keyId: "key_1",
        prefix: "mp_live_wxyz",
        keyHash: "cd".repeat(32),
        previousKeyHash: "00",
        previousValidUntil: NOW,
        rotatedAt: NOW,
      },
    }]);
    // The second rotation replaces the secret the first one created.
    const first = spec.given([registered, keyCreated]).when(rotate("cd".repeat(32))).then();
    const second = spec.given([registered, keyCreated, ...first]).when(rotate("ef".repeat(32)))
      .then();
    expect((second[0].data as { previousKeyHash: string }).previousKeyHash).toBe("cd".repeat(32));
    const revoked: AccountEvent = {
      type: "ApiKeyRevoked",
      data: { accountId: "acct_1", keyId: "key_1", revokedAt: NOW },
    };
    spec.given([registered, keyCreated, revoked]).when(rotate("cd".repeat(32)))
      .thenRejects("api_key_not_found");
    spec.given([registered]).when(rotate("cd".repeat(32))).thenRejects("api_key_not_found");
  });

  it("changes the password, keeping the asking session, and the new hash is the one login checks", () => {
    const change = {
      type: "ChangePassword",
      accountId: "acct_1",
      passwordHash: "scrypt$new",
      keptSessionId: "sess_1",
      now: NOW,
    } as const;
    const given = spec.given([registered, {
      type: "PasswordSet",
      data: { accountId: "acct_1", passwordHash: "scrypt$old" },
    }]);
    given.when(change).then([{
      type: "PasswordChanged",
      data: {
        accountId: "acct_1",
        passwordHash: "scrypt$new",
        keptSessionId: "sess_1",
        changedAt: NOW,
      },
    }]);
    expect(given.when(change).thenState().passwordHash).toBe("scrypt$new");
  });

  it("disables and enables an account, each only when it changes something", () => {
    const disable = { type: "DisableAccount", accountId: "acct_1", now: NOW } as const;
    const enable = { type: "EnableAccount", accountId: "acct_1", now: NOW } as const;
    const disabled = spec.given([registered]).when(disable).then([{
      type: "AccountDisabled",
      data: { accountId: "acct_1", at: NOW },
    }]);
    spec.given([registered, ...disabled]).when(disable).then([]);
    spec.given([registered]).when(enable).then([]);
    const enabled = spec.given([registered, ...disabled]).when(enable).then();
    expect(enabled.map((event) => event.type)).toEqual(["AccountEnabled"]);
    spec.given([]).when(disable).thenRejects("account_not_found");
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

  it("ends its own account's session once; another account's reads as not found", () => {
    const end = {
      type: "EndSession",
      sessionId: "sess_1",
      accountId: "acct_1",
      reason: "logout",
      now: NOW,
    } as const;
    const ended = spec.given([started]).when(end).then([{
      type: "SessionEnded",
      data: { sessionId: "sess_1", accountId: "acct_1", reason: "logout", at: NOW },
    }]);
    spec.given([started, ...ended]).when(end).then([]);
    spec.given([started]).when({ ...end, accountId: "acct_2" }).thenRejects("session_not_found");
    spec.given([]).when(end).thenRejects("session_not_found");
  });
});
