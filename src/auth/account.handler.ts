import { Inject, Injectable } from "@nestjs/common";
import { CLOCK, type Clock } from "../common/clock.ts";
import { newId } from "../common/ids.ts";
import { APP_CONFIG, type AppConfig } from "../config/config.ts";
import type { EventMetadata } from "../event-store/event-store.port.ts";
import { type AccountState, AuthRuleViolation, type LoginMethod } from "./account.decider.ts";
import { AuthStreams } from "./auth-streams.ts";
import type { AccountOrigin, SessionEndReason, SessionStartedData } from "./auth.events.ts";
import { LoginThrottle } from "./login-throttle.ts";
import {
  decoyPasswordHash,
  emailHash,
  hashPassword,
  newSessionToken,
  normaliseEmail,
  sha256Hex,
  verifyPassword,
} from "./secrets.ts";
import { SessionsQueries } from "./sessions.queries.ts";

export interface CreatedAccount {
  id: string;
  email: string;
  createdAt: string;
  position: bigint;
}

export interface StartedSession {
  /** The session token: returned once, stored only as its SHA-256. */
  token: string;
  sessionId: string;
  position: bigint;
}

/**
 * The account use cases: registration (sign-up, operators, OAuth), login and sessions,
 * passwords, linked logins and disabling. Every write goes through AuthStreams' CommandHandlers.
 */
@Injectable()
export class AccountCommandHandler {
  constructor(
    @Inject(AuthStreams) private readonly streams: AuthStreams,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LoginThrottle) private readonly loginThrottle: LoginThrottle,
    @Inject(SessionsQueries) private readonly sessions: SessionsQueries,
  ) {}

  /** Self-service sign-up: claims the email on the store, registers, starts a session. */
  async signUp(
    email: string,
    password: string,
    metadata: EventMetadata,
  ): Promise<{ accountId: string } & StartedSession> {
    const passwordHash = await hashPassword(password);
    const accountId = newId("acct");
    const asAccount = { ...metadata, actor: `account:${accountId}` };
    await this.register(accountId, normaliseEmail(email), "signup", { passwordHash }, asAccount);
    const session = await this.openSession(accountId, asAccount);
    return { accountId, ...session };
  }

  /** Operator-created account: no password, used through API keys. */
  async createAccountAsAdmin(email: string, metadata: EventMetadata): Promise<CreatedAccount> {
    const accountId = newId("acct");
    const normalised = normaliseEmail(email);
    const { createdAt, position } = await this.register(
      accountId,
      normalised,
      "admin",
      {},
      metadata,
    );
    return { id: accountId, email: normalised, createdAt, position };
  }

  /**
   * An account created from a provider's verified email (no password): claims the email like
   * sign-up (email_taken when it has an account: link to that one instead) and links the login.
   */
  async registerWithProvider(
    email: string,
    method: LoginMethod,
    metadata: EventMetadata,
  ): Promise<{ accountId: string; position: bigint }> {
    const accountId = newId("acct");
    const { position } = await this.register(
      accountId,
      normaliseEmail(email),
      "oauth",
      { loginMethod: method },
      { ...metadata, actor: `account:${accountId}` },
    );
    return { accountId, position };
  }

  /** Records that a provider identity logs in to this account (nothing new when it already does). */
  async linkLoginMethod(
    accountId: string,
    link: LoginMethod & { email: string },
    metadata: EventMetadata,
  ): Promise<bigint> {
    return await this.streams.onAccount(accountId, {
      type: "LinkLoginMethod",
      accountId,
      method: { provider: link.provider, subject: link.subject },
      email: normaliseEmail(link.email),
      now: this.now(),
    }, metadata);
  }

  async login(email: string, password: string, metadata: EventMetadata): Promise<StartedSession> {
    const normalised = normaliseEmail(email);
    // Before any scrypt: a throttled email costs the server nothing.
    await this.loginThrottle.claim(normalised);
    const claimedBy = await this.streams.emailClaimant(emailHash(normalised));
    const account = claimedBy ? await this.streams.account(claimedBy) : undefined;
    // Always run one scrypt so response time does not tell which emails have accounts.
    const valid = await verifyPassword(
      password,
      account?.passwordHash ?? await decoyPasswordHash(),
    );
    if (!account?.passwordHash || !valid) {
      throw new AuthRuleViolation("invalid_credentials", "Incorrect email or password.");
    }
    await this.loginThrottle.succeeded(normalised);
    // Only after the password: a disabled account is not revealed to someone guessing.
    if (account.disabled) throw accountDisabled();
    return await this.openSession(account.accountId!, {
      ...metadata,
      actor: `account:${account.accountId}`,
    });
  }

  /** A new session for an account already authenticated another way (OAuth, sign-up). */
  async startSessionFor(accountId: string, metadata: EventMetadata): Promise<StartedSession> {
    const account = await this.streams.account(accountId);
    if (!account.exists) throw new AuthRuleViolation("account_not_found", "No such account.");
    if (account.disabled) throw accountDisabled();
    return await this.openSession(accountId, { ...metadata, actor: `account:${accountId}` });
  }

  /** Ends one of the account's sessions (session_not_found for another account's). */
  async endSession(
    accountId: string,
    sessionId: string,
    reason: SessionEndReason,
    metadata: EventMetadata,
  ): Promise<bigint> {
    return await this.streams.onSession(sessionId, accountId, {
      type: "EndSession",
      sessionId,
      accountId,
      reason,
      now: this.now(),
    }, metadata);
  }

  /** Ends every live session of the account except `keepSessionId`; how many ended. */
  async endOtherSessions(
    accountId: string,
    keepSessionId: string | undefined,
    metadata: EventMetadata,
  ): Promise<{ revoked: number; position?: bigint }> {
    const live = await this.sessions.liveSessions(accountId);
    let position: bigint | undefined;
    let revoked = 0;
    for (const session of live) {
      if (session.id === keepSessionId) continue;
      position = await this.endSession(accountId, session.id, "revoked", metadata);
      revoked++;
    }
    return { revoked, position };
  }

  /**
   * A new password. Accounts that have one must confirm it (`invalid_current_password`, counted
   * by the login throttle like a failed login); accounts without one (operator- or
   * OAuth-created) set their first. Every other session ends with the change.
   */
  async changePassword(
    accountId: string,
    request: { currentPassword?: string; newPassword: string; keptSessionId?: string },
    metadata: EventMetadata,
  ): Promise<bigint> {
    const account = await this.streams.account(accountId);
    if (!account.exists) throw new AuthRuleViolation("account_not_found", "No such account.");
    if (account.passwordHash) await this.confirmPassword(account, request.currentPassword);
    return await this.streams.onAccount(accountId, {
      type: "ChangePassword",
      accountId,
      passwordHash: await hashPassword(request.newPassword),
      keptSessionId: request.keptSessionId,
      now: this.now(),
    }, metadata);
  }

  async disableAccount(accountId: string, metadata: EventMetadata): Promise<bigint> {
    return await this.streams.onAccount(accountId, {
      type: "DisableAccount",
      accountId,
      now: this.now(),
    }, metadata);
  }

  async enableAccount(accountId: string, metadata: EventMetadata): Promise<bigint> {
    return await this.streams.onAccount(accountId, {
      type: "EnableAccount",
      accountId,
      now: this.now(),
    }, metadata);
  }

  private async confirmPassword(account: AccountState, current: string | undefined) {
    const email = account.email!;
    await this.loginThrottle.claim(email);
    if (current === undefined || !await verifyPassword(current, account.passwordHash!)) {
      throw new AuthRuleViolation(
        "invalid_current_password",
        current === undefined
          ? "current_password is required to change this account's password."
          : "The current password is incorrect.",
        "current_password",
      );
    }
    await this.loginThrottle.succeeded(email);
  }

  // Session tokens are random and stored only as a SHA-256 hash in SessionStarted (not an HMAC
  // with a server secret): every instance sharing the event store accepts them, with either
  // store adapter, without distributing a secret, and they go through the same subscription
  // path as API keys.
  private async openSession(accountId: string, metadata: EventMetadata): Promise<StartedSession> {
    const token = newSessionToken();
    const sessionId = newId("sess");
    const now = this.clock.now();
    const session: SessionStartedData = {
      sessionId,
      accountId,
      tokenHash: sha256Hex(token),
      startedAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + this.config.sessionTtlSeconds * 1000).toISOString(),
    };
    const position = await this.streams.onSession(sessionId, accountId, {
      type: "StartSession",
      session,
    }, metadata);
    return { token, sessionId, position };
  }

  private async register(
    accountId: string,
    email: string,
    origin: AccountOrigin,
    credentials: { passwordHash?: string; loginMethod?: LoginMethod },
    metadata: EventMetadata,
  ): Promise<{ createdAt: string; position: bigint }> {
    const hash = emailHash(email);
    // The claim stream is what makes emails unique: two concurrent sign-ups race on its
    // expected revision in the store, and exactly one append wins.
    await this.streams.onEmailClaim(
      hash,
      { type: "ClaimEmail", emailHash: hash, accountId },
      metadata,
    );
    const createdAt = this.now();
    try {
      const position = await this.streams.onAccount(accountId, {
        type: "RegisterAccount",
        accountId,
        email,
        origin,
        ...credentials,
        now: createdAt,
      }, metadata);
      return { createdAt, position };
    } catch (error) {
      // Give the email back so a retry can succeed. If the release fails too, the email stays
      // claimed by an account that was never registered, and sign-up with it answers email_taken.
      await this.streams.onEmailClaim(
        hash,
        { type: "ReleaseEmail", emailHash: hash, accountId },
        metadata,
      ).catch(() => undefined);
      throw error;
    }
  }

  private now(): string {
    return this.clock.now().toISOString();
  }
}

function accountDisabled(): AuthRuleViolation {
  return new AuthRuleViolation(
    "account_disabled",
    "This account has been disabled. Contact the operator of this service.",
  );
}
