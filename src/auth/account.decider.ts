import { DomainError } from "../common/domain-error.ts";
import type { Decider } from "../event-store/command-handler.ts";
import type {
  AccountEvent,
  ApiKeyCreatedData,
  EmailClaimEvent,
  SessionEvent,
  SessionStartedData,
} from "./auth.events.ts";
import type { Permission } from "./principal.ts";

/**
 * Pure deciders for the auth streams, one per stream type. No clock, ids or randomness inside:
 * the handler passes them in with the command.
 */

export type AuthRuleCode =
  | "email_taken"
  | "account_exists"
  | "account_not_found"
  | "api_key_not_found"
  | "invalid_credentials"
  | "account_conflict"
  | "session_exists";

/** An auth rule refused the command; the exception filter maps the code to HTTP. */
export class AuthRuleViolation extends DomainError<AuthRuleCode> {}

// ---- email claim: `emailclaim-<hash>` ---------------------------------------------------------

export interface EmailClaimState {
  claimedBy?: string;
}

export type EmailClaimCommand =
  | { type: "ClaimEmail"; emailHash: string; accountId: string }
  | { type: "ReleaseEmail"; emailHash: string; accountId: string };

export const emailClaimDecider: Decider<EmailClaimCommand, EmailClaimEvent, EmailClaimState> = {
  initialState: () => ({}),
  decide(command, state) {
    switch (command.type) {
      case "ClaimEmail":
        if (state.claimedBy === command.accountId) return [];
        if (state.claimedBy) {
          throw new AuthRuleViolation(
            "email_taken",
            "An account with this email already exists.",
          );
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
  },
  evolve(_state, event) {
    switch (event.type) {
      case "EmailClaimed":
        return { claimedBy: event.data.accountId };
      case "EmailReleased":
        return {};
    }
  },
};

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

export const accountDecider: Decider<AccountCommand, AccountEvent, AccountState> = {
  initialState: () => ({ exists: false, keys: new Map() }),
  decide(command, state) {
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
          throw new AuthRuleViolation(
            "api_key_not_found",
            `No API key with id '${command.keyId}'.`,
          );
        }
        if (key.revoked) return [];
        return [{
          type: "ApiKeyRevoked",
          data: { accountId: command.accountId, keyId: command.keyId, revokedAt: command.now },
        }];
      }
    }
  },
  evolve(state, event) {
    switch (event.type) {
      case "AccountRegistered":
        return {
          ...state,
          exists: true,
          accountId: event.data.accountId,
          email: event.data.email,
        };
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
  },
};

function accountNotFound(): AuthRuleViolation {
  return new AuthRuleViolation("account_not_found", "No such account.");
}

// ---- session: `session-<id>` ------------------------------------------------------------------

export interface SessionState {
  started: boolean;
}

export type SessionCommand = { type: "StartSession"; session: SessionStartedData };

export const sessionDecider: Decider<SessionCommand, SessionEvent, SessionState> = {
  initialState: () => ({ started: false }),
  decide(command, state) {
    // Session ids are random, so this guards a bug rather than a race a user can cause.
    if (state.started) {
      throw new AuthRuleViolation("session_exists", "The session already exists.");
    }
    return [{ type: "SessionStarted", data: command.session }];
  },
  evolve: () => ({ started: true }),
};
