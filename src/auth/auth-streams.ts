import { Inject, Injectable } from "@nestjs/common";
import { deterministicEventId } from "../common/ids.ts";
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
} from "./account.decider.ts";
import {
  type AccountEvent,
  accountStream,
  type EmailClaimEvent,
  emailClaimStream,
  type SessionEvent,
  sessionStream,
} from "./auth.events.ts";
import { type SessionCommand, sessionDecider, type SessionState } from "./session.decider.ts";

/**
 * The auth module's three stream types behind the shared CommandHandler (`emailclaim-`,
 * `account-`, `session-`), with the event ids each command derives, so a replayed append writes
 * nothing. The account and API key handlers share it.
 */
@Injectable()
export class AuthStreams {
  private readonly emailClaims: CommandHandler<EmailClaimCommand, EmailClaimEvent, EmailClaimState>;
  private readonly accounts: CommandHandler<AccountCommand, AccountEvent, AccountState>;
  private readonly sessions: CommandHandler<SessionCommand, SessionEvent, SessionState>;

  constructor(@Inject(EVENT_STORE) private readonly store: EventStore) {
    this.emailClaims = new CommandHandler(store, emailClaimDecider);
    this.accounts = new CommandHandler(store, accountDecider);
    this.sessions = new CommandHandler(store, sessionDecider);
  }

  async account(accountId: string): Promise<AccountState> {
    return (await this.accounts.load(accountStream(accountId))).state;
  }

  async emailClaimant(hash: string): Promise<string | undefined> {
    return (await this.emailClaims.load(emailClaimStream(hash))).state.claimedBy;
  }

  async onEmailClaim(
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

  async onAccount(
    accountId: string,
    command: AccountCommand,
    metadata: EventMetadata,
  ): Promise<bigint> {
    const stream = accountStream(accountId);
    const result = await withAccountConflict(this.accounts.handle(stream, command, {
      metadata: { ...metadata, accountId },
      eventId: (event, _index, before) =>
        deterministicEventId(stream, `${event.type}:${discriminatorOf(command, before.revision)}`),
    }));
    return await this.positionOf(result);
  }

  async onSession(
    sessionId: string,
    accountId: string,
    command: SessionCommand,
    metadata: EventMetadata,
  ): Promise<bigint> {
    const result = await withAccountConflict(
      this.sessions.handle(sessionStream(sessionId), command, {
        metadata: { ...metadata, accountId },
        // One start and at most one end per session.
        eventId: (event) => deterministicEventId(event.type, sessionId),
      }),
    );
    return await this.positionOf(result);
  }

  /** Where a reader must catch up to: the append's position, or the head when nothing was new. */
  private async positionOf(result: CommandResult<unknown, unknown>): Promise<bigint> {
    return result.position ?? await this.store.headPosition();
  }
}

/**
 * What makes an account event's id unique. Registration and key creation happen once per id;
 * the commands that may repeat over an account's life (disable, enable again, another rotation,
 * another password) include the stream revision they were decided at.
 */
function discriminatorOf(command: AccountCommand, revision: bigint): string {
  switch (command.type) {
    case "RegisterAccount":
      return command.accountId;
    case "CreateApiKey":
      return command.key.keyId;
    case "RevokeApiKey":
      return command.keyId;
    case "RotateApiKey":
      return `${command.key.keyId}:${revision}`;
    case "LinkLoginMethod":
      return `${command.method.provider}:${command.method.subject}`;
    case "ChangePassword":
    case "DisableAccount":
    case "EnableAccount":
      return `${command.accountId}:${revision}`;
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
