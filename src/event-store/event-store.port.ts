/**
 * The event store port. Every module appends and reads through this interface; the embedded
 * SQLite adapter and the EventStoreDB adapter both implement it and both pass
 * test/event-store/event-store.contract.ts.
 *
 * Revisions are 0-based per stream (the first event of a stream has revision 0). Positions are
 * global, strictly increasing, and start at 1; position 0 means "before everything".
 */

export type ExpectedRevision = "any" | "no_stream" | "stream_exists" | bigint;

export interface EventMetadata {
  correlationId?: string;
  causationId?: string;
  /** Who caused it: `account:<id>`, `admin`, `system:<process>`, `stripe`, … */
  actor?: string;
  accountId?: string;
  requestId?: string;
  [key: string]: unknown;
}

/** What a caller hands to append(). The id makes the append idempotent. */
export interface NewEvent<Type extends string = string, Data = unknown> {
  id: string; // UUID
  type: Type;
  data: Data;
  metadata?: EventMetadata;
}

export interface RecordedEvent<Type extends string = string, Data = any> {
  id: string;
  type: Type;
  data: Data;
  metadata: EventMetadata;
  stream: string;
  revision: bigint;
  position: bigint;
  createdAt: Date;
}

export interface AppendResult {
  /** Revision of the last event now in the stream. */
  nextExpectedRevision: bigint;
  /** Global position of the last appended (or already present) event. */
  position: bigint;
}

export interface ReadStreamOptions {
  /** Inclusive start revision; default the first (forwards) or the last (backwards). */
  from?: bigint;
  direction?: "forwards" | "backwards";
  maxCount?: number;
}

export interface EventFilter {
  /** Stream name prefixes, e.g. `["account-", "job-"]`. */
  streamPrefixes?: string[];
  /** Event type names. */
  eventTypes?: string[];
}

export interface ReadAllOptions {
  /** Exclusive: return events with position > from. Default 0n (everything). */
  from?: bigint;
  maxCount?: number;
  filter?: EventFilter;
}

export interface ScanAllOptions {
  /** Exclusive, as readAll's: events with position > from. Default 0n (everything). */
  from?: bigint;
  /** Inclusive last position; default no bound (up to the head as each page is read). */
  to?: bigint;
  filter?: EventFilter;
  /** Events per page; the adapter may choose its own when unset. */
  pageSize?: number;
  /**
   * The caller reads `metadata`, `revision` and `createdAt` of few events: an adapter may leave
   * them out of the bulk read and fetch them when read, so read them before closing the store.
   */
  metadataRarelyRead?: boolean;
}

export interface SubscribeOptions {
  /** Exclusive checkpoint: deliver events with position > from. Default 0n. */
  from?: bigint;
  filter?: EventFilter;
  /** Optional abort signal; aborting ends the iterator. */
  signal?: AbortSignal;
}

/** Catch-up then live. Ends only when closed, aborted or the store shuts down. */
export interface Subscription extends AsyncIterable<RecordedEvent> {
  close(): Promise<void>;
}

export class WrongExpectedVersion extends Error {
  override readonly name = "WrongExpectedVersion";
  constructor(
    readonly stream: string,
    readonly expected: ExpectedRevision,
    /** Current last revision, or -1n when the stream does not exist. */
    readonly actual: bigint,
  ) {
    super(
      `Wrong expected version on ${stream}: expected ${String(expected)}, actual ${
        actual === -1n ? "no stream" : String(actual)
      }`,
    );
  }
}

/**
 * Some event ids of an append are already stored, but not as an exact replay of this append
 * (same stream, contiguous, same order, where the expected revision puts them), or an id
 * repeats within the append. A full replay is not an error: it succeeds and writes nothing.
 */
export class EventIdConflict extends Error {
  override readonly name = "EventIdConflict";
  constructor(readonly stream: string, detail: string) {
    super(`Event id conflict on ${stream}: ${detail}`);
  }
}

export class EventStoreUnavailable extends Error {
  override readonly name = "EventStoreUnavailable";
}

export interface EventStore {
  append(
    stream: string,
    events: NewEvent[],
    options?: { expectedRevision?: ExpectedRevision },
  ): Promise<AppendResult>;
  readStream(stream: string, options?: ReadStreamOptions): Promise<RecordedEvent[]>;
  readAll(options?: ReadAllOptions): Promise<RecordedEvent[]>;
  subscribeToAll(options?: SubscribeOptions): Subscription;
  /**
   * Optional: $all in position order, page by page, for whole-history passes (verify, replay,
   * rebuild, export) that read far more than they keep. An adapter that has a faster bulk read
   * than readAll implements it; callers go through scanAll() (scan-all.ts), which pages readAll
   * otherwise. The events may parse `data` and `metadata` on first access: read them, never
   * spread or mutate them.
   */
  scanAll?(options?: ScanAllOptions): AsyncIterable<RecordedEvent[]>;
  /** The position of the last event in the store (0n when empty). */
  headPosition(): Promise<bigint>;
  /** Cheap liveness check for /health. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Nest injection token for the EventStore port. */
export const EVENT_STORE = Symbol("EVENT_STORE");
