import { DomainError } from "../common/domain-error.ts";
import type { Decider } from "../event-store/command-handler.ts";
import type {
  AccountEvent,
  AccountOrigin,
  ApiKeyCreatedData,
  ApiKeyRotatedData,
  EmailClaimEvent,
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
  | "account_disabled"
  | "session_exists"
  | "session_not_found"
  | "invalid_current_password"
  | "invalid_expiry"
  | "insufficient_permissions";

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
  name: string;
  permissions: Permission[];
  createdAt: string;
  expiresAt?: string;
  revoked: boolean;
  /** The current secret's hash: a rotation records it as the previous one. */
  keyHash: string;
}

export interface AccountState {
  exists: boolean;
  accountId?: string;
  email?: string;
  origin?: AccountOrigin;
  passwordHash?: string;
  disabled: boolean;
  keys: Map<string, ApiKeyState>;
  /** `<provider>:<subject>` of every linked external login. */
  loginMethods: Set<string>;
}

export interface LoginMethod {
  provider: string;
  subject: string;
}

export type AccountCommand =
  | {
    type: "RegisterAccount";
    accountId: string;
    email: string;
    origin: AccountOrigin;
    passwordHash?: string;
    /** For origin `oauth`: the provider identity the account is created from. */
    loginMethod?: LoginMethod;
    now: string;
  }
  | { type: "CreateApiKey"; key: Omit<ApiKeyCreatedData, "createdAt">; now: string }
  | { type: "RevokeApiKey"; accountId: string; keyId: string; now: string }
  | {
    type: "RotateApiKey";
    key: Omit<ApiKeyRotatedData, "previousKeyHash" | "rotatedAt">;
    now: string;
  }
  | {
    type: "ChangePassword";
    accountId: string;
    passwordHash: string;
    keptSessionId?: string;
    now: string;
  }
  | {
    type: "LinkLoginMethod";
    accountId: string;
    method: LoginMethod;
    email: string;
    now: string;
  }
  | { type: "DisableAccount"; accountId: string; now: string }
  | { type: "EnableAccount"; accountId: string; now: string };

export const accountDecider: Decider<AccountCommand, AccountEvent, AccountState> = {
  initialState: () => ({
    exists: false,
    disabled: false,
    keys: new Map(),
    loginMethods: new Set(),
  }),
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
        if (command.loginMethod) {
          events.push({
            type: "LoginMethodLinked",
            data: {
              accountId: command.accountId,
              provider: command.loginMethod.provider,
              subject: command.loginMethod.subject,
              email: command.email,
              at: command.now,
            },
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
        const key = liveKey(state, command.keyId, true);
        if (key.revoked) return [];
        return [{
          type: "ApiKeyRevoked",
          data: { accountId: command.accountId, keyId: command.keyId, revokedAt: command.now },
        }];
      }
      case "RotateApiKey": {
        if (!state.exists) throw accountNotFound();
        const key = liveKey(state, command.key.keyId, false);
        // The same new secret twice (a retried append) is not a second rotation.
        if (key.keyHash === command.key.keyHash) return [];
        return [{
          type: "ApiKeyRotated",
          data: { ...command.key, previousKeyHash: key.keyHash, rotatedAt: command.now },
        }];
      }
      case "ChangePassword": {
        if (!state.exists) throw accountNotFound();
        return [{
          type: "PasswordChanged",
          data: {
            accountId: command.accountId,
            passwordHash: command.passwordHash,
            ...(command.keptSessionId ? { keptSessionId: command.keptSessionId } : {}),
            changedAt: command.now,
          },
        }];
      }
      case "LinkLoginMethod": {
        if (!state.exists) throw accountNotFound();
        if (state.loginMethods.has(methodKey(command.method))) return [];
        return [{
          type: "LoginMethodLinked",
          data: {
            accountId: command.accountId,
            provider: command.method.provider,
            subject: command.method.subject,
            email: command.email,
            at: command.now,
          },
        }];
      }
      case "DisableAccount":
        if (!state.exists) throw accountNotFound();
        if (state.disabled) return [];
        return [{
          type: "AccountDisabled",
          data: { accountId: command.accountId, at: command.now },
        }];
      case "EnableAccount":
        if (!state.exists) throw accountNotFound();
        if (!state.disabled) return [];
        return [{
          type: "AccountEnabled",
          data: { accountId: command.accountId, at: command.now },
        }];
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
          origin: event.data.origin,
        };
      case "PasswordSet":
      case "PasswordChanged":
        return { ...state, passwordHash: event.data.passwordHash };
      case "ApiKeyCreated":
        return withKey(state, {
          keyId: event.data.keyId,
          name: event.data.name,
          permissions: event.data.permissions,
          createdAt: event.data.createdAt,
          expiresAt: event.data.expiresAt,
          revoked: false,
          keyHash: event.data.keyHash,
        });
      case "ApiKeyRevoked": {
        const existing = state.keys.get(event.data.keyId);
        return existing ? withKey(state, { ...existing, revoked: true }) : state;
      }
      case "ApiKeyRotated": {
        const existing = state.keys.get(event.data.keyId);
        return existing ? withKey(state, { ...existing, keyHash: event.data.keyHash }) : state;
      }
      case "LoginMethodLinked": {
        const loginMethods = new Set(state.loginMethods);
        loginMethods.add(methodKey(event.data));
        return { ...state, loginMethods };
      }
      case "AccountDisabled":
        return { ...state, disabled: true };
      case "AccountEnabled":
        return { ...state, disabled: false };
    }
  },
};

function withKey(state: AccountState, key: ApiKeyState): AccountState {
  const keys = new Map(state.keys);
  keys.set(key.keyId, key);
  return { ...state, keys };
}

/** The key, which must exist (and, unless `revokedAllowed`, still be live). */
function liveKey(state: AccountState, keyId: string, revokedAllowed: boolean): ApiKeyState {
  const key = state.keys.get(keyId);
  if (!key || (key.revoked && !revokedAllowed)) {
    throw new AuthRuleViolation("api_key_not_found", `No API key with id '${keyId}'.`);
  }
  return key;
}

function methodKey(method: LoginMethod): string {
  return `${method.provider}:${method.subject}`;
}

function accountNotFound(): AuthRuleViolation {
  return new AuthRuleViolation("account_not_found", "No such account.");
}
