import { newEventId } from "../common/ids.ts";
import { sleep } from "../common/sleep.ts";
import {
  EventIdConflict,
  type EventMetadata,
  type EventStore,
  type NewEvent,
  type RecordedEvent,
  WrongExpectedVersion,
} from "./event-store.port.ts";

/**
 * One way to write, in the manner of Emmett's `CommandHandler`: read the stream (or take the
 * caller's cached state), decide, append with the expected revision, and decide again when
 * another writer appended first. Every event-sourced write in the application goes through
 * `CommandHandler.handle`; `src/event-store/` is the only other place that calls
 * `store.append`, and the README lists the two append-only logs that do so with their reasons.
 */

/** A domain event as deciders see it: a type and its data, nothing about where it is stored. */
export interface DomainEvent<Type extends string = string, Data = unknown> {
  type: Type;
  data: Data;
}

/**
 * A pure decider (Chassaing): rules live in `decide`, `evolve` only applies facts, and
 * `initialState` is a function so a mutable state is never shared between streams.
 */
export interface Decider<Command, Event extends DomainEvent, State> {
  decide(command: Command, state: State): Event[];
  evolve(state: State, event: Event): State;
  initialState(): State;
}

/** A stream's state and the revision it was folded to (-1n: the stream does not exist yet). */
export interface StreamState<State> {
  state: State;
  revision: bigint;
}

export interface CommandResult<Event, State> {
  /** What this call appended (empty when the decider decided nothing). */
  newEvents: Event[];
  newState: State;
  /** The stream's revision after the call (-1n: it still does not exist). */
  nextExpectedRevision: bigint;
  /** Global position of the last appended event, for `waitFor`; undefined when none was. */
  position?: bigint;
}

/**
 * The one policy for version conflicts. Conflicts are rare (another instance, or a background
 * process of this one, wrote to the same stream between our read and our append), so retrying
 * costs nothing in the common case; the jittered backoff keeps busy writers out of step. The
 * bound is generous because a hot ledger stream shared by several instances is the expected
 * worst case, and each attempt re-reads only what it has not seen.
 */
export const CONFLICT_RETRY_POLICY = {
  maxAttempts: 50,
  backoffMs: (attempt: number) => Math.random() * Math.min(50, 2 + attempt * 3),
} as const;

/** Whether an append failed only because another writer got there first. */
export function isVersionConflict(error: unknown): boolean {
  return error instanceof WrongExpectedVersion || error instanceof EventIdConflict;
}

/** Runs `attempt` until it succeeds, retrying version conflicts under the shared policy. */
export async function retryOnVersionConflict<T>(
  attempt: (attemptNumber: number) => Promise<T>,
  onConflict?: (attemptNumber: number) => void,
): Promise<T> {
  for (let attemptNumber = 1;; attemptNumber++) {
    try {
      return await attempt(attemptNumber);
    } catch (error) {
      if (!isVersionConflict(error) || attemptNumber >= CONFLICT_RETRY_POLICY.maxAttempts) {
        throw error;
      }
      onConflict?.(attemptNumber);
      await sleep(CONFLICT_RETRY_POLICY.backoffMs(attemptNumber));
    }
  }
}

/** Folds recorded events into a state, starting from `from` (default: the decider's initial). */
export function foldRecorded<Event extends DomainEvent, State>(
  decider: Pick<Decider<unknown, Event, State>, "evolve" | "initialState">,
  recorded: readonly RecordedEvent[],
  from?: StreamState<State>,
): StreamState<State> {
  let state = from?.state ?? decider.initialState();
  let revision = from?.revision ?? -1n;
  for (const event of recorded) {
    state = decider.evolve(state, { type: event.type, data: event.data } as Event);
    revision = event.revision;
  }
  return { state, revision };
}

/**
 * What one call decides, given the state: the events and the state after them (a command,
 * several, or a batch). Returning the state lets a decider whose `evolve` mutates in place (the
 * ledger's, for speed) fold each event exactly once.
 */
export type Decision<Event, State> = (state: State) => { events: Event[]; state: State };

export interface HandleOptions<Event, State> {
  metadata?: EventMetadata | ((state: State) => EventMetadata);
  /**
   * The metadata of the `index`th decided event, when events of one call have different causes
   * (a batch of commands from several requests). Takes precedence over `metadata`.
   */
  metadataOf?: (event: Event, index: number) => EventMetadata;
  /**
   * The id of the `index`th decided event. Derive it from an idempotency key where the command
   * has one, so a retried request appends nothing new. Default: random, so two writers deciding
   * the same transition conflict on the revision instead of deduplicating.
   */
  eventId?: (event: Event, index: number, before: StreamState<State>) => string;
  /**
   * Where the state comes from. Default: read and fold the whole stream. A caller with a cache
   * passes its own; after a conflict it is called with `afterConflict` so the cache catches up.
   */
  load?: (afterConflict: boolean) => Promise<StreamState<State>>;
  /** Called with the result once the append is acknowledged (e.g. to update a cache). */
  onAppended?: (result: CommandResult<Event, State>) => void;
}

export class CommandHandler<Command, Event extends DomainEvent, State> {
  constructor(
    private readonly store: EventStore,
    readonly decider: Decider<Command, Event, State>,
  ) {}

  /** The stream folded from its first event. */
  async load(stream: string): Promise<StreamState<State>> {
    return foldRecorded(this.decider, await this.store.readStream(stream));
  }

  /** Decides one command, or several in order (each seeing the events of those before it). */
  handle(
    stream: string,
    command: Command | Command[],
    options: HandleOptions<Event, State> = {},
  ): Promise<CommandResult<Event, State>> {
    const commands = Array.isArray(command) ? command : [command];
    return this.handleDecision(stream, (state) => this.decideAll(commands, state), options);
  }

  /**
   * The general form: `decision` sees the current state and returns the events to append. It
   * may run more than once (after a conflict), so it must not have effects beyond its return.
   */
  handleDecision(
    stream: string,
    decision: Decision<Event, State>,
    options: HandleOptions<Event, State> = {},
  ): Promise<CommandResult<Event, State>> {
    return retryOnVersionConflict(async (attempt) => {
      const before = options.load ? await options.load(attempt > 1) : await this.load(stream);
      const { events, state: newState } = decision(before.state);
      if (events.length === 0) {
        return { newEvents: [], newState, nextExpectedRevision: before.revision };
      }
      const metadata = typeof options.metadata === "function"
        ? options.metadata(newState)
        : options.metadata;
      const toAppend: NewEvent[] = events.map((event, index) => {
        const eventMetadata = options.metadataOf?.(event, index) ?? metadata;
        return {
          id: options.eventId?.(event, index, before) ?? newEventId(),
          type: event.type,
          data: event.data,
          ...(eventMetadata ? { metadata: eventMetadata } : {}),
        };
      });
      const appended = await this.store.append(stream, toAppend, {
        expectedRevision: before.revision === -1n ? "no_stream" : before.revision,
      });
      const result: CommandResult<Event, State> = {
        newEvents: events,
        newState,
        nextExpectedRevision: appended.nextExpectedRevision,
        position: appended.position,
      };
      options.onAppended?.(result);
      return result;
    });
  }

  /** Decides commands in order against a state, evolving between them; no I/O. */
  decideAll(commands: readonly Command[], state: State): { events: Event[]; state: State } {
    const events: Event[] = [];
    for (const command of commands) {
      for (const event of this.decider.decide(command, state)) {
        state = this.decider.evolve(state, event);
        events.push(event);
      }
    }
    return { events, state };
  }
}
