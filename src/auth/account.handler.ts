import { Inject, Injectable } from "@nestjs/common";
import { CLOCK, type Clock } from "../common/clock.ts";
import { deterministicEventId, newId } from "../common/ids.ts";
import { APP_CONFIG, type AppConfig } from "../config/config.ts";
import {
  CommandHandler,
  type CommandResult,
  isVersionConflict,
} from "../event-store/command-handler.ts";
import {
  EVENT_STORE,
  type EventMetadata,
  type EventStore,
} from "../event-store/event-store.port.ts";
import {
  type AccountCommand,
  accountDecider,
  type AccountState,
  AuthRuleViolation,
  type EmailClaimCommand,
  emailClaimDecider,
  type EmailClaimState,
  type SessionCommand,
  sessionDecider,
  type SessionState,
} from "./account.decider.ts";
import {
  type AccountEvent,
  accountStream,
  type EmailClaimEvent,
  emailClaimStream,
  type SessionEvent,
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
 * The auth use cases: each write goes through the shared CommandHandler of its stream type
 * (`emailclaim-`, `account-`, `session-`) with ids derived from the command, so a replayed
 * append writes nothing. Secrets are generated here and leave only as hashes, except the one
 * copy returned to the caller.
 */
@Injectable()
export class AccountCommandHandler {
  private readonly emailClaims: CommandHandler<EmailClaimCommand, EmailClaimEvent, EmailClaimState>;
  private readonly accounts: CommandHandler<AccountCommand, AccountEvent, AccountState>;
  private readonly sessions: CommandHandler<SessionCommand, SessionEvent, SessionState>;

  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LoginThrottle) private readonly loginThrottle: LoginThrottle,
  ) {
    this.emailClaims = new CommandHandler(store, emailClaimDecider);
    this.accounts = new CommandHandler(store, accountDecider);
    this.sessions = new CommandHandler(store, sessionDecider);
  }

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
    const claim = await this.emailClaims.load(emailClaimStream(emailHash(normalised)));
    const account = claim.state.claimedBy
      ? (await this.accounts.load(accountStream(claim.state.claimedBy))).state
      : undefined;
    // Always run one scrypt so response time does not tell which emails have accounts.
    const valid = await verifyPassword(
      password,
      account?.passwordHash ?? await decoyPasswordHash(),
    );
    if (!account?.passwordHash || !valid) {
      throw new AuthRuleViolation("invalid_credentials", "Incorrect email or password.");
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
    const session: SessionStartedData = {
      sessionId,
      accountId,
      tokenHash: sha256Hex(token),
      startedAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + this.config.sessionTtlSeconds * 1000).toISOString(),
    };
    const result = await this.sessions.handle(sessionStream(sessionId), {
      type: "StartSession",
      session,
    }, {
      metadata: { ...metadata, accountId },
      eventId: () => deterministicEventId("SessionStarted", sessionId),
    });
    return { token, position: await this.positionOf(result) };
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
      // Give the email back so a retry can succeed. If the release fails too, the email stays
      // claimed by an account that was never registered, and sign-up with it answers email_taken.
      await this.onEmailClaim(hash, { type: "ReleaseEmail", emailHash: hash, accountId }, metadata)
        .catch(() => undefined);
      throw error;
    }
  }

  private async onEmailClaim(
    hash: string,
    command: EmailClaimCommand,
    metadata: EventMetadata,
  ): Promise<void> {
    const stream = emailClaimStream(hash);
    await withAccountConflict(this.emailClaims.handle(stream, command, {
      metadata: { ...metadata, accountId: command.accountId },
      // The revision keeps a claim after a release distinct from the first claim.
      eventId: (event, _index, before) =>
        deterministicEventId(
          stream,
          `${event.type}:${command.accountId}:${
            before.revision === -1n ? "no_stream" : before.revision
          }`,
        ),
    }));
  }

  private async onAccount(
    accountId: string,
    command: AccountCommand,
    metadata: EventMetadata,
  ): Promise<bigint> {
    const stream = accountStream(accountId);
    const discriminator = command.type === "CreateApiKey"
      ? command.key.keyId
      : command.type === "RevokeApiKey"
      ? command.keyId
      : accountId;
    const result = await withAccountConflict(this.accounts.handle(stream, command, {
      metadata: { ...metadata, accountId },
      eventId: (event) => deterministicEventId(stream, `${event.type}:${discriminator}`),
    }));
    return await this.positionOf(result);
  }

  /** Where a reader must catch up to: the append's position, or the head when nothing was new. */
  private async positionOf(result: CommandResult<unknown, unknown>): Promise<bigint> {
    return result.position ?? await this.store.headPosition();
  }
}

/** A version conflict that outlasted the shared retry policy becomes the auth module's refusal. */
async function withAccountConflict<T>(write: Promise<T>): Promise<T> {
  try {
    return await write;
  } catch (error) {
    if (!isVersionConflict(error)) throw error;
    throw new AuthRuleViolation(
      "account_conflict",
      "The account changed concurrently; retry the request.",
    );
  }
}
