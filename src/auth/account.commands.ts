import { Inject, Injectable } from "@nestjs/common";
import { ApiError } from "../common/api-error.ts";
import { CLOCK, type Clock } from "../common/clock.ts";
import { deterministicEventId, newId } from "../common/ids.ts";
import { APP_CONFIG, type AppConfig } from "../config/config.ts";
import {
  type AppendResult,
  EVENT_STORE,
  type EventMetadata,
  type EventStore,
  type ExpectedRevision,
  type NewEvent,
  WrongExpectedVersion,
} from "../event-store/event-store.port.ts";
import {
  type AccountCommand,
  type AccountState,
  AuthRuleViolation,
  decideAccount,
  decideEmailClaim,
  type EmailClaimCommand,
  type EmailClaimState,
  evolveAccount,
  evolveEmailClaim,
  initialAccountState,
  initialEmailClaimState,
} from "./account.decider.ts";
import {
  type AccountEvent,
  accountStream,
  type EmailClaimEvent,
  emailClaimStream,
  type SessionStartedData,
  sessionStream,
} from "./auth.events.ts";
import { LoginThrottle } from "./login-throttle.ts";
import type { Permission } from "./principal.ts";
import {
  apiKeyDisplayPrefix,
  decoyPasswordHash,
  emailHash,
  hashPassword,
  newApiKey,
  newSessionToken,
  normaliseEmail,
  sha256Hex,
  verifyPassword,
} from "./secrets.ts";

const MAX_ATTEMPTS = 5;

export interface CreatedApiKey {
  id: string;
  /** The full key: returned once, never stored. */
  key: string;
  name: string;
  permissions: Permission[];
  prefix: string;
  createdAt: string;
  position: bigint;
}

export interface CreatedAccount {
  id: string;
  email: string;
  createdAt: string;
  position: bigint;
}

/**
 * The auth command handler: read → decide → append with the expected revision, retrying
 * version conflicts a bounded number of times. Secrets are generated here and leave only as
 * hashes, except the one copy returned to the caller.
 */
@Injectable()
export class AccountCommands {
  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LoginThrottle) private readonly loginThrottle: LoginThrottle,
  ) {}

  /** Self-service sign-up: claims the email on the store, registers, starts a session. */
  async signUp(
    email: string,
    password: string,
    metadata: EventMetadata,
  ): Promise<{ accountId: string; token: string; position: bigint }> {
    const passwordHash = await hashPassword(password);
    const accountId = newId("acct");
    await this.register(accountId, normaliseEmail(email), "signup", passwordHash, {
      ...metadata,
      actor: `account:${accountId}`,
    });
    const session = await this.startSession(accountId, {
      ...metadata,
      actor: `account:${accountId}`,
    });
    return { accountId, token: session.token, position: session.position };
  }

  /** Operator-created account: no password, used through API keys. */
  async createAccountAsAdmin(email: string, metadata: EventMetadata): Promise<CreatedAccount> {
    const accountId = newId("acct");
    const normalised = normaliseEmail(email);
    const { createdAt, position } = await this.register(
      accountId,
      normalised,
      "admin",
      undefined,
      metadata,
    );
    return { id: accountId, email: normalised, createdAt, position };
  }

  async login(
    email: string,
    password: string,
    metadata: EventMetadata,
  ): Promise<{ token: string }> {
    const normalised = normaliseEmail(email);
    // Before any scrypt: a throttled email costs the server nothing.
    await this.loginThrottle.claim(normalised);
    const claim = await this.load<EmailClaimState, EmailClaimEvent>(
      emailClaimStream(emailHash(normalised)),
      { ...initialEmailClaimState },
      evolveEmailClaim,
    );
    const account = claim.state.claimedBy
      ? (await this.loadAccount(claim.state.claimedBy)).state
      : undefined;
    // Always run one scrypt so response time does not tell which emails have accounts.
    const valid = await verifyPassword(
      password,
      account?.passwordHash ?? await decoyPasswordHash(),
    );
    if (!account?.passwordHash || !valid) {
      throw new ApiError(401, "Incorrect email or password.", {
        type: "invalid_request_error",
        code: "invalid_credentials",
      });
    }
    await this.loginThrottle.succeeded(normalised);
    const session = await this.startSession(account.accountId!, {
      ...metadata,
      actor: `account:${account.accountId}`,
    });
    return { token: session.token };
  }

  async createApiKey(
    accountId: string,
    request: { name: string; permissions: Permission[] },
    metadata: EventMetadata,
  ): Promise<CreatedApiKey> {
    const key = newApiKey();
    const keyId = newId("key");
    const permissions = [...new Set(request.permissions)];
    const prefix = apiKeyDisplayPrefix(key);
    const now = this.clock.now().toISOString();
    const position = await this.onAccount(accountId, {
      type: "CreateApiKey",
      key: { accountId, keyId, name: request.name, permissions, prefix, keyHash: sha256Hex(key) },
      now,
    }, metadata);
    return { id: keyId, key, name: request.name, permissions, prefix, createdAt: now, position };
  }

  async revokeApiKey(accountId: string, keyId: string, metadata: EventMetadata): Promise<bigint> {
    return await this.onAccount(accountId, {
      type: "RevokeApiKey",
      accountId,
      keyId,
      now: this.clock.now().toISOString(),
    }, metadata);
  }

  // Session tokens are random and stored only as a SHA-256 hash in SessionStarted (not an HMAC
  // with a server secret): every instance sharing the event store accepts them, with either
  // store adapter, without distributing a secret, and they go through the same subscription
  // path as API keys.
  private async startSession(
    accountId: string,
    metadata: EventMetadata,
  ): Promise<{ token: string; position: bigint }> {
    const token = newSessionToken();
    const sessionId = newId("sess");
    const now = this.clock.now();
    const data: SessionStartedData = {
      sessionId,
      accountId,
      tokenHash: sha256Hex(token),
      startedAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + this.config.sessionTtlSeconds * 1000).toISOString(),
    };
    const result = await this.store.append(sessionStream(sessionId), [{
      id: deterministicEventId("SessionStarted", sessionId),
      type: "SessionStarted",
      data,
      metadata: { ...metadata, accountId },
    }], { expectedRevision: "no_stream" });
    return { token, position: result.position };
  }

  private async register(
    accountId: string,
    email: string,
    origin: "signup" | "admin",
    passwordHash: string | undefined,
    metadata: EventMetadata,
  ): Promise<{ createdAt: string; position: bigint }> {
    const hash = emailHash(email);
    // The claim stream is what makes emails unique: two concurrent sign-ups race on its
    // expected revision in the store, and exactly one append wins.
    await this.onEmailClaim(hash, { type: "ClaimEmail", emailHash: hash, accountId }, metadata);
    const createdAt = this.clock.now().toISOString();
    try {
      const position = await this.onAccount(accountId, {
        type: "RegisterAccount",
        accountId,
        email,
        origin,
        passwordHash,
        now: createdAt,
      }, metadata);
      return { createdAt, position };
    } catch (error) {
      // Give the email back so a retry can succeed; if this fails too the claim stays (see report).
      await this.onEmailClaim(hash, { type: "ReleaseEmail", emailHash: hash, accountId }, metadata)
        .catch(() => undefined);
      throw error;
    }
  }

  private async onEmailClaim(
    hash: string,
    command: EmailClaimCommand,
    metadata: EventMetadata,
  ): Promise<bigint> {
    const stream = emailClaimStream(hash);
    return await this.withRetries(async () => {
      const { state, revision } = await this.load<EmailClaimState, EmailClaimEvent>(
        stream,
        { ...initialEmailClaimState },
        evolveEmailClaim,
      );
      const events = decideEmailClaim(command, state);
      const discriminator = `${command.accountId}:${revision}`;
      return await this.appendDecided(stream, events, revision, discriminator, {
        ...metadata,
        accountId: command.accountId,
      });
    });
  }

  private async onAccount(
    accountId: string,
    command: AccountCommand,
    metadata: EventMetadata,
  ): Promise<bigint> {
    const stream = accountStream(accountId);
    return await this.withRetries(async () => {
      const { state, revision } = await this.loadAccount(accountId);
      const events = decideAccount(command, state);
      const discriminator = command.type === "CreateApiKey"
        ? command.key.keyId
        : command.type === "RevokeApiKey"
        ? command.keyId
        : accountId;
      return await this.appendDecided(stream, events, revision, discriminator, {
        ...metadata,
        accountId,
      });
    });
  }

  private loadAccount(accountId: string) {
    return this.load<AccountState, AccountEvent>(
      accountStream(accountId),
      initialAccountState(),
      evolveAccount,
    );
  }

  private async load<State, Event extends { type: string; data: unknown }>(
    stream: string,
    initial: State,
    evolve: (state: State, event: Event) => State,
  ): Promise<{ state: State; revision: ExpectedRevision }> {
    const recorded = await this.store.readStream(stream);
    let state = initial;
    for (const event of recorded) {
      state = evolve(state, { type: event.type, data: event.data } as Event);
    }
    const revision: ExpectedRevision = recorded.length === 0
      ? "no_stream"
      : recorded[recorded.length - 1].revision;
    return { state, revision };
  }

  /** Appends decided events; ids derive from the command so a replayed append writes nothing. */
  private async appendDecided(
    stream: string,
    events: Array<{ type: string; data: unknown }>,
    expectedRevision: ExpectedRevision,
    discriminator: string,
    metadata: EventMetadata,
  ): Promise<bigint> {
    if (events.length === 0) return await this.store.headPosition();
    const newEvents: NewEvent[] = events.map((event) => ({
      id: deterministicEventId(stream, `${event.type}:${discriminator}`),
      type: event.type,
      data: event.data,
      metadata,
    }));
    const result: AppendResult = await this.store.append(stream, newEvents, { expectedRevision });
    return result.position;
  }

  private async withRetries<T>(attempt: () => Promise<T>): Promise<T> {
    for (let tries = 1;; tries++) {
      try {
        return await attempt();
      } catch (error) {
        if (error instanceof AuthRuleViolation) throw toApiError(error);
        if (!(error instanceof WrongExpectedVersion) || tries >= MAX_ATTEMPTS) {
          if (error instanceof WrongExpectedVersion) {
            throw ApiError.conflict("The account changed concurrently; retry the request.");
          }
          throw error;
        }
      }
    }
  }
}

function toApiError(violation: AuthRuleViolation): ApiError {
  switch (violation.code) {
    case "email_taken":
      return new ApiError(409, violation.message, { code: "email_taken", param: "email" });
    case "account_exists":
      return ApiError.conflict(violation.message, "account_exists");
    case "account_not_found":
      return ApiError.notFound(violation.message, "account_not_found");
    case "api_key_not_found":
      return ApiError.notFound(violation.message, "api_key_not_found");
  }
}
