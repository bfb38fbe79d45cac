import type { AccountEvent, ApiKeyCreatedData, EmailClaimEvent } from "./auth.events.ts";
import type { Permission } from "./principal.ts";

/**
 * Pure deciders for the auth streams. No clock, ids or randomness inside: the handler passes
 * them in with the command.
 */

export class AuthRuleViolation extends Error {
  constructor(
    readonly code: "email_taken" | "account_exists" | "account_not_found" | "api_key_not_found",
    message: string,
  ) {
    super(message);
  }
}

// ---- email claim: `emailclaim-<hash>` ---------------------------------------------------------

export interface EmailClaimState {
  claimedBy?: string;
}

export const initialEmailClaimState: EmailClaimState = {};

export type EmailClaimCommand =
  | { type: "ClaimEmail"; emailHash: string; accountId: string }
  | { type: "ReleaseEmail"; emailHash: string; accountId: string };

export function decideEmailClaim(
  command: EmailClaimCommand,
  state: EmailClaimState,
): EmailClaimEvent[] {
  switch (command.type) {
    case "ClaimEmail":
      if (state.claimedBy === command.accountId) return [];
      if (state.claimedBy) {
        throw new AuthRuleViolation("email_taken", "An account with this email already exists.");
      }
      return [{
        type: "EmailClaimed",
        data: { emailHash: command.emailHash, accountId: command.accountId },
      }];
    case "ReleaseEmail":
      if (state.claimedBy !== command.accountId) return [];
      return [{
        type: "EmailReleased",
        data: { emailHash: command.emailHash, accountId: command.accountId },
      }];
  }
}

export function evolveEmailClaim(state: EmailClaimState, event: EmailClaimEvent): EmailClaimState {
  switch (event.type) {
    case "EmailClaimed":
      return { claimedBy: event.data.accountId };
    case "EmailReleased":
      return {};
  }
}

// ---- account: `account-<id>` ------------------------------------------------------------------

export interface ApiKeyState {
  keyId: string;
  permissions: Permission[];
  revoked: boolean;
}

export interface AccountState {
  exists: boolean;
  accountId?: string;
  email?: string;
  passwordHash?: string;
  keys: Map<string, ApiKeyState>;
}

export const initialAccountState = (): AccountState => ({ exists: false, keys: new Map() });

export type AccountCommand =
  | {
    type: "RegisterAccount";
    accountId: string;
    email: string;
    origin: "signup" | "admin";
    passwordHash?: string;
    now: string;
  }
  | { type: "CreateApiKey"; key: Omit<ApiKeyCreatedData, "createdAt">; now: string }
  | { type: "RevokeApiKey"; accountId: string; keyId: string; now: string };

export function decideAccount(command: AccountCommand, state: AccountState): AccountEvent[] {
  switch (command.type) {
    case "RegisterAccount": {
      if (state.exists) {
        throw new AuthRuleViolation("account_exists", "The account already exists.");
      }
      const events: AccountEvent[] = [{
        type: "AccountRegistered",
        data: {
          accountId: command.accountId,
          email: command.email,
          origin: command.origin,
          registeredAt: command.now,
        },
      }];
      if (command.passwordHash) {
        events.push({
          type: "PasswordSet",
          data: { accountId: command.accountId, passwordHash: command.passwordHash },
        });
      }
      return events;
    }
    case "CreateApiKey": {
      if (!state.exists) throw accountNotFound();
      // A retried command with the same key id appends nothing new.
      if (state.keys.has(command.key.keyId)) return [];
      return [{ type: "ApiKeyCreated", data: { ...command.key, createdAt: command.now } }];
    }
    case "RevokeApiKey": {
      if (!state.exists) throw accountNotFound();
      const key = state.keys.get(command.keyId);
      if (!key) {
        throw new AuthRuleViolation("api_key_not_found", `No API key with id '${command.keyId}'.`);
      }
      if (key.revoked) return [];
      return [{
        type: "ApiKeyRevoked",
        data: { accountId: command.accountId, keyId: command.keyId, revokedAt: command.now },
      }];
    }
  }
}

export function evolveAccount(state: AccountState, event: AccountEvent): AccountState {
  switch (event.type) {
    case "AccountRegistered":
      return { ...state, exists: true, accountId: event.data.accountId, email: event.data.email };
    case "PasswordSet":
      return { ...state, passwordHash: event.data.passwordHash };
    case "ApiKeyCreated": {
      const keys = new Map(state.keys);
      keys.set(event.data.keyId, {
        keyId: event.data.keyId,
        permissions: event.data.permissions,
        revoked: false,
      });
      return { ...state, keys };
    }
    case "ApiKeyRevoked": {
      const existing = state.keys.get(event.data.keyId);
      if (!existing) return state;
      const keys = new Map(state.keys);
      keys.set(event.data.keyId, { ...existing, revoked: true });
      return { ...state, keys };
    }
  }
}

function accountNotFound(): AuthRuleViolation {
  return new AuthRuleViolation("account_not_found", "No such account.");
}
