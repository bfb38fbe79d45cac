import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { DatabaseSync } from "node:sqlite";
import { setImmediate } from "node:timers";
import { type Clock, systemClock } from "../common/clock.ts";
import {
  type AppendResult,
  type EventFilter,
  EventIdConflict,
  type EventStore,
  EventStoreUnavailable,
  type ExpectedRevision,
  type NewEvent,
  type ReadAllOptions,
  type ReadStreamOptions,
  type RecordedEvent,
  type SubscribeOptions,
  type Subscription,
} from "./event-store.port.ts";
import { SqliteEventTypeTail } from "./event-type-tail.ts";
import { SqliteEventReader } from "./sqlite-event-reader.ts";
import { SqliteSubscription, type SubscriptionSource } from "./sqlite-subscription.ts";
import {
  type AppendOutcome,
  type AppendRequest,
  openStoreConnection,
  SqliteAppendWriter,
  toAppendError,
} from "./sqlite-append-writer.ts";
import { ThreadedAppendWriter } from "./threaded-append-writer.ts";

export interface SqliteEventStoreOptions {
  /** File path, or ":memory:" for unit tests (one process, no durability). */
  path: string;
  /**
   * "normal" (default): WAL + synchronous=NORMAL, an acknowledged append survives a process
   * kill. "full": synchronous=FULL, it also survives power loss, at a cost per commit.
   */
  sync?: "normal" | "full";
  /** How often live subscriptions look at the file for appends made by other processes. */
  pollIntervalMs?: number;
  /** How long a writer waits for another process's write lock before failing. */
  busyTimeoutMs?: number;
  /** Page size of subscription catch-up reads. */
  subscriptionPageSize?: number;
  /**
   * Where commits run: "inline" (default) on this thread, "thread" on a worker thread so they
   * never stall the event loop (the service's choice; needs a file, not ":memory:").
   */
  writer?: "inline" | "thread";
  clock?: Clock;
}

/** Counters that show group commit at work (tests and benchmarks read them). */
export interface SqliteEventStoreStats {
  /** Committed write transactions. */
  transactions: number;
  /** append() calls settled by those transactions (successes and rejections). */
  appends: number;
  /** Events actually written. */
  events: number;
}

interface PendingAppend extends AppendRequest {
  resolve(result: AppendResult): void;
  reject(error: unknown): void;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS events (
  position INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  stream TEXT NOT NULL,
  revision INTEGER NOT NULL,
  type TEXT NOT NULL,
  data TEXT NOT NULL,
  metadata TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  UNIQUE (stream, revision)
);
`;

const DEFAULT_POLL_INTERVAL_MS = 25;

/**
 * The embedded event store: one SQLite file, WAL, a single serialised writer per process with
 * group commit. Concurrent append() calls queue up; one flush applies all of them in a single
 * BEGIN IMMEDIATE … COMMIT. When a batch holds several appends each runs inside its own
 * SAVEPOINT, so a failing append rejects only its own promise; a lone append needs none (the
 * transaction is its savepoint). Promises settle only after COMMIT returns, so an acknowledged
 * append is durable.
 *
 * Several processes may share the file: revisions are always read inside the write
 * transaction, SQLITE_BUSY is absorbed by busy_timeout, and live subscriptions poll the file.
 */
export class SqliteEventStore implements EventStore, SubscriptionSource {
  readonly path: string;
  private readonly db: DatabaseSync;
  private readonly clock: Clock;
  private readonly pollIntervalMs: number;
  private readonly subscriptionPageSize: number;
  private queue: PendingAppend[] = [];
  private flushScheduled = false;
  /** close() has begun: queued appends are still committed, new ones are refused. */
  private closing = false;
  private closed = false;
  private readonly subscriptions = new Set<SqliteSubscription>();
  private readonly appendListeners = new Set<() => void>();
  private readonly counters: SqliteEventStoreStats = { transactions: 0, appends: 0, events: 0 };

  private readonly reader: SqliteEventReader;
  private readonly writer: SqliteAppendWriter | ThreadedAppendWriter;
  /** The batch being committed, if any: the writer takes one at a time. */
  private committing?: Promise<void>;

  private readonly tail: SqliteEventTypeTail;

  constructor(options: SqliteEventStoreOptions) {
    this.path = options.path;
    this.clock = options.clock ?? systemClock;
    this.pollIntervalMs = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
    this.subscriptionPageSize = options.subscriptionPageSize ?? 1000;
    if (options.path !== ":memory:") mkdirSync(dirname(options.path), { recursive: true });
    const writerOptions = {
      path: options.path,
      sync: options.sync ?? "normal",
      busyTimeoutMs: options.busyTimeoutMs ?? 5000,
    } as const;
    this.db = openStoreConnection(writerOptions);
    this.db.exec(SCHEMA);
    this.writer = options.writer === "thread" && options.path !== ":memory:"
      ? new ThreadedAppendWriter(writerOptions)
      : new SqliteAppendWriter(this.db);

    this.reader = new SqliteEventReader(this.db);
    this.tail = new SqliteEventTypeTail(this.db, () => this.headPositionSync());
  }

  /** Group-commit counters since this instance opened. */
  stats(): SqliteEventStoreStats {
    return { ...this.counters };
  }

  append(
    stream: string,
    events: NewEvent[],
    options?: { expectedRevision?: ExpectedRevision },
  ): Promise<AppendResult> {
    if (this.closed || this.closing) {
      return Promise.reject(new EventStoreUnavailable("event store is closed"));
    }
    let serialized: AppendRequest["events"];
    try {
      validateAppend(stream, events);
      // Serialise before queueing so a bad payload rejects only this append.
      serialized = events.map((event) => ({
        id: event.id,
        type: event.type,
        data: JSON.stringify(event.data ?? null),
        metadata: JSON.stringify(event.metadata ?? {}),
      }));
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise<AppendResult>((resolve, reject) => {
      this.queue.push({
        stream,
        events: serialized,
        expectedRevision: options?.expectedRevision ?? "any",
        resolve,
        reject,
      });
      this.scheduleFlush();
    });
  }

  async readStream(stream: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    this.assertOpen();
    return this.reader.readStream(stream, options);
  }

  async readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    this.assertOpen();
    return this.readAllSync(options.from ?? 0n, options.maxCount ?? -1, options.filter);
  }

  subscribeToAll(options: SubscribeOptions = {}): Subscription {
    this.assertOpen();
    const subscription = new SqliteSubscription(this, options, this.subscriptionPageSize);
    this.subscriptions.add(subscription);
    return subscription;
  }

  async headPosition(): Promise<bigint> {
    this.assertOpen();
    return this.headPositionSync();
  }

  /** See SqliteEventTypeTail.lastPositionOf: what ProjectionRunner.untilCurrent waits for. */
  lastPositionOf(types: Iterable<string>): bigint {
    this.assertOpen();
    return this.tail.lastPositionOf(types);
  }

  async ping(): Promise<void> {
    this.assertOpen();
    this.reader.head();
  }

  /** Commits queued appends, ends every subscription, then closes the file. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closing = true;
    while (this.committing || this.queue.length > 0) await (this.committing ?? this.flush());
    this.closed = true;
    if (this.writer instanceof ThreadedAppendWriter) await this.writer.close();
    await Promise.all([...this.subscriptions].map((subscription) => subscription.close()));
    this.db.close();
  }

  // ---- internals used by SqliteSubscription ----

  /** @internal */
  isClosed(): boolean {
    return this.closed;
  }

  /** @internal */
  headPositionSync(): bigint {
    return this.reader.head();
  }

  /** @internal Events after `from` (exclusive), oldest first. */
  readAllSync(from: bigint, maxCount: number, filter?: EventFilter): RecordedEvent[] {
    return this.reader.readAll(from, maxCount, filter);
  }

  /** @internal Resolves on the next in-process commit. */
  onAppend(listener: () => void): () => void {
    this.appendListeners.add(listener);
    return () => this.appendListeners.delete(listener);
  }

  /** @internal */
  forgetSubscription(subscription: SqliteSubscription): void {
    this.subscriptions.delete(subscription);
  }

  /** @internal */
  get livePollIntervalMs(): number {
    return this.pollIntervalMs;
  }

  // ---- the writer ----

  private scheduleFlush(): void {
    if (this.flushScheduled || this.committing) return;
    this.flushScheduled = true;
    // setImmediate (not a microtask) lets every append issued in this turn, including the
    // continuations of the previous batch's promises, join the next transaction.
    setImmediate(() => {
      this.flushScheduled = false;
      if (!this.closed && !this.committing) void this.flush();
    });
  }

  /** Commits everything queued as one batch; appends queued meanwhile form the next one. */
  private flush(): Promise<void> {
    const batch = this.queue;
    if (batch.length === 0) return Promise.resolve();
    this.queue = [];
    const createdAt = this.clock.now().getTime();
    const requests: AppendRequest[] = batch.map(({ stream, events, expectedRevision }) => ({
      stream,
      events,
      expectedRevision,
    }));
    const settle = (outcomes: AppendOutcome[]) => this.settle(batch, outcomes);
    const committed = this.writer.commit(requests, createdAt);
    if (Array.isArray(committed)) {
      settle(committed);
      if (this.queue.length > 0) this.scheduleFlush();
      return Promise.resolve();
    }
    this.committing = committed.then(settle).finally(() => {
      this.committing = undefined;
      if (this.queue.length > 0) this.scheduleFlush();
    });
    return this.committing;
  }

  private settle(batch: PendingAppend[], outcomes: AppendOutcome[]): void {
    let written = 0;
    for (const outcome of outcomes) if (outcome.ok) written += outcome.written;
    // The transaction committed unless the writer reported the whole batch unavailable.
    if (outcomes.some((outcome) => outcome.ok || outcome.failure.kind !== "unavailable")) {
      this.counters.transactions += 1;
      this.counters.appends += batch.length;
      this.counters.events += written;
    }
    // Before any append is acknowledged: a freshness check after it must see its events.
    if (written > 0) this.tail.noteCommitted(batch, outcomes);
    batch.forEach((pending, index) => {
      const outcome = outcomes[index];
      if (outcome.ok) {
        pending.resolve({
          nextExpectedRevision: outcome.nextExpectedRevision,
          position: outcome.position,
        });
      } else pending.reject(toAppendError(outcome.failure));
    });
    if (written > 0) { for (const listener of [...this.appendListeners]) listener(); }
  }

  private assertOpen(): void {
    if (this.closed) throw new EventStoreUnavailable("event store is closed");
  }
}

function validateAppend(stream: string, events: NewEvent[]): void {
  if (typeof stream !== "string" || stream.length === 0) {
    throw new TypeError("stream name must be a non-empty string");
  }
  const seen = new Set<string>();
  for (const event of events) {
    if (typeof event.id !== "string" || event.id.length === 0) {
      throw new TypeError(`event of type ${event.type} has no id`);
    }
    if (seen.has(event.id)) throw new EventIdConflict(stream, `event id ${event.id} repeats`);
    seen.add(event.id);
  }
}
