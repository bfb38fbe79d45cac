import {
  type AccountCommand,
  type AccountState,
  AuthRuleViolation,
  decideAccount,
  decideEmailClaim,
  evolveAccount,
  evolveEmailClaim,
  initialAccountState,
  initialEmailClaimState,
} from "./account.decider.ts";
import type { AccountEvent, EmailClaimEvent } from "./auth.events.ts";

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

function given(events: AccountEvent[]) {
  const state = events.reduce<AccountState>(evolveAccount, initialAccountState());
  return { when: (command: AccountCommand) => () => decideAccount(command, state) };
}

describe("account decider", () => {
  it("registers an account with its password hash in a separate event", () => {
    expect(
      given([]).when({
        type: "RegisterAccount",
        accountId: "acct_1",
        email: "a@example.com",
        origin: "signup",
        passwordHash: "scrypt$...",
        now: NOW,
      })(),
    ).toEqual([registered, {
      type: "PasswordSet",
      data: { accountId: "acct_1", passwordHash: "scrypt$..." },
    }]);
  });

  it("registers an admin-created account without a password", () => {
    const events = given([]).when({
      type: "RegisterAccount",
      accountId: "acct_1",
      email: "a@example.com",
      origin: "admin",
      now: NOW,
    })();
    expect(events.map((event) => event.type)).toEqual(["AccountRegistered"]);
  });

  it("refuses keys for an account that does not exist", () => {
    expect(given([]).when({ type: "CreateApiKey", key: keyCreated.data as never, now: NOW }))
      .toThrow(AuthRuleViolation);
  });

  it("creates a key once, even when the command is retried", () => {
    const { createdAt: _createdAt, ...key } = keyCreated.data as { createdAt: string };
    const command = { type: "CreateApiKey", key, now: NOW } as AccountCommand;
    expect(given([registered]).when(command)()).toEqual([keyCreated]);
    expect(given([registered, keyCreated]).when(command)()).toEqual([]);
  });

  it("revokes a key once and refuses unknown keys", () => {
    const revoke = { type: "RevokeApiKey", accountId: "acct_1", keyId: "key_1", now: NOW } as const;
    const revoked = given([registered, keyCreated]).when(revoke)();
    expect(revoked).toEqual([{
      type: "ApiKeyRevoked",
      data: { accountId: "acct_1", keyId: "key_1", revokedAt: NOW },
    }]);
    expect(given([registered, keyCreated, ...revoked]).when(revoke)()).toEqual([]);
    expect(given([registered]).when(revoke)).toThrow(/No API key/);
  });
});

describe("email claim decider", () => {
  const claimed: EmailClaimEvent = {
    type: "EmailClaimed",
    data: { emailHash: "h", accountId: "acct_1" },
  };
  const released: EmailClaimEvent = {
    type: "EmailReleased",
    data: { emailHash: "h", accountId: "acct_1" },
  };
  const state = (events: EmailClaimEvent[]) =>
    events.reduce(evolveEmailClaim, { ...initialEmailClaimState });

  it("claims a free email and refuses a claimed one", () => {
    expect(decideEmailClaim({ type: "ClaimEmail", emailHash: "h", accountId: "acct_1" }, state([])))
      .toEqual([claimed]);
    expect(() =>
      decideEmailClaim(
        { type: "ClaimEmail", emailHash: "h", accountId: "acct_2" },
        state([claimed]),
      )
    )
      .toThrow("An account with this email already exists.");
  });

  it("lets a released email be claimed again, by the owner only releasing", () => {
    expect(
      decideEmailClaim(
        { type: "ReleaseEmail", emailHash: "h", accountId: "acct_2" },
        state([claimed]),
      ),
    ).toEqual([]);
    expect(
      decideEmailClaim(
        { type: "ReleaseEmail", emailHash: "h", accountId: "acct_1" },
        state([claimed]),
      ),
    ).toEqual([
      released,
    ]);
    expect(
      decideEmailClaim(
        { type: "ClaimEmail", emailHash: "h", accountId: "acct_2" },
        state([claimed, released]),
      ),
    )
      .toHaveLength(1);
  });
});
