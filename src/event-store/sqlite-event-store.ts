import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { setImmediate } from "node:timers";
import { type Clock, systemClock } from "../common/clock.ts";
import {
  type AppendResult,
  type EventFilter,
  EventIdConflict,
  type EventMetadata,
  type EventStore,
  EventStoreUnavailable,
  type ExpectedRevision,
  type NewEvent,
  type ReadAllOptions,
  type ReadStreamOptions,
  type RecordedEvent,
  type SubscribeOptions,
  type Subscription,
  WrongExpectedVersion,
} from "./event-store.port.ts";
import { closeOnAbort } from "./event-filter.ts";
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

interface EventRow {
  position: bigint;
  id: string;
  stream: string;
  revision: bigint;
  type: string;
  data: string;
  metadata: string;
  created_at: bigint;
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

const EVENT_COLUMNS = "position, id, stream, revision, type, data, metadata, created_at";
const DEFAULT_POLL_INTERVAL_MS = 25;
/** Most new events lastPositionOf() looks at one by one; past that it answers the head. */
const TAIL_PAGE = 1000;

/**
 * The embedded event store: one SQLite file, WAL, a single serialised writer per process with
 * group commit. Concurrent append() calls queue up; one flush applies all of them in a single
 * BEGIN IMMEDIATE … COMMIT, each inside its own SAVEPOINT so a failing append rejects only its
 * own promise. Promises settle only after COMMIT returns, so an acknowledged append is durable.
 *
 * Several processes may share the file: revisions are always read inside the write
 * transaction, SQLITE_BUSY is absorbed by busy_timeout, and live subscriptions poll the file.
 */
export class SqliteEventStore implements EventStore {
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
  private readonly statementCache = new Map<string, StatementSync>();
  private readonly counters: SqliteEventStoreStats = { transactions: 0, appends: 0, events: 0 };

  private readonly selectHead: StatementSync;
  private readonly selectTail: StatementSync;
  private readonly writer: SqliteAppendWriter | ThreadedAppendWriter;
  /** The batch being committed, if any: the writer takes one at a time. */
  private committing?: Promise<void>;

  // The tail: the last position of each event type appended since this instance opened, so
  // a freshness check that cares about a few types need not wait for unrelated events.
  /** Every event up to here has had its type noted (or lies at or before tailBaseline). */
  private tailPosition: bigint;
  /** Types of events up to here are unknown: any of them may be of any type. */
  private tailBaseline: bigint;
  private readonly lastOfType = new Map<string, bigint>();

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

    this.selectHead = this.prepare("SELECT coalesce(max(position), 0) AS head FROM events");
    this.selectTail = this.prepare(
      "SELECT position, type FROM events WHERE position > ? ORDER BY position LIMIT ?",
    );
    this.tailBaseline = this.tailPosition = this.headPositionSync();
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
    const backwards = options.direction === "backwards";
    const limit = options.maxCount ?? -1;
    if (backwards) {
      const from = options.from ?? BigInt(Number.MAX_SAFE_INTEGER);
      return this.statement(
        `SELECT ${EVENT_COLUMNS} FROM events WHERE stream = ? AND revision <= ? ` +
          "ORDER BY revision DESC LIMIT ?",
      ).all(stream, from, limit).map((row) => toRecordedEvent(row as unknown as EventRow));
    }
    return this.statement(
      `SELECT ${EVENT_COLUMNS} FROM events WHERE stream = ? AND revision >= ? ` +
        "ORDER BY revision ASC LIMIT ?",
    ).all(stream, options.from ?? 0n, limit).map((row) =>
      toRecordedEvent(row as unknown as EventRow)
    );
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

  /**
   * A position at or after the last event of any of `types` in the store, appended by this
   * process or any other sharing the file: a reader that has applied everything up to it has
   * seen every such event. One indexed head read; the rows appended since the last call are
   * read (position and type only) when the head has moved past what this instance has seen.
   */
  lastPositionOf(types: Iterable<string>): bigint {
    this.assertOpen();
    if (this.headPositionSync() > this.tailPosition) this.readTail();
    let last = this.tailBaseline;
    for (const type of types) {
      const position = this.lastOfType.get(type);
      if (position !== undefined && position > last) last = position;
    }
    return last;
  }

  async ping(): Promise<void> {
    this.assertOpen();
    this.selectHead.get();
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
    return (this.selectHead.get() as { head: bigint }).head;
  }

  /** @internal Events after `from` (exclusive), oldest first. */
  readAllSync(from: bigint, maxCount: number, filter?: EventFilter): RecordedEvent[] {
    const conditions = ["position > ?"];
    const parameters: (string | bigint | number)[] = [from];
    const prefixes = filter?.streamPrefixes;
    if (prefixes && prefixes.length > 0) {
      conditions.push(`(${prefixes.map(() => "substr(stream, 1, ?) = ?").join(" OR ")})`);
      for (const prefix of prefixes) parameters.push(prefix.length, prefix);
    }
    const types = filter?.eventTypes;
    if (types && types.length > 0) {
      conditions.push(`type IN (${types.map(() => "?").join(", ")})`);
      parameters.push(...types);
    }
    parameters.push(maxCount);
    const sql = `SELECT ${EVENT_COLUMNS} FROM events WHERE ${
      conditions.join(" AND ")
    } ORDER BY position ASC LIMIT ?`;
    return this.statement(sql).all(...parameters).map((row) =>
      toRecordedEvent(row as unknown as EventRow)
    );
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
    if (written > 0) this.noteCommitted(batch, outcomes);
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

  /**
   * Notes the types of the events a transaction wrote, without reading them back when they
   * directly follow tailPosition (no other process appended in between); else reads the tail.
   */
  private noteCommitted(batch: PendingAppend[], outcomes: AppendOutcome[]): void {
    let expected = this.tailPosition + 1n;
    const written: Array<[bigint, string]> = [];
    for (const [index, pending] of batch.entries()) {
      const outcome = outcomes[index];
      if (!outcome.ok || outcome.written === 0) continue;
      let position = outcome.position - BigInt(outcome.written) + 1n;
      if (position !== expected) return this.readTail();
      for (const event of pending.events) written.push([position++, event.type]);
      expected = position;
    }
    for (const [position, type] of written) this.lastOfType.set(type, position);
    if (written.length > 0) this.tailPosition = written[written.length - 1][0];
  }

  /** Notes the type of every event after tailPosition; too many to look at: all may matter. */
  private readTail(): void {
    const rows = this.selectTail.all(this.tailPosition, TAIL_PAGE + 1) as unknown as Array<
      { position: bigint; type: string }
    >;
    if (rows.length > TAIL_PAGE) {
      this.tailBaseline = this.tailPosition = this.headPositionSync();
      this.lastOfType.clear();
      return;
    }
    for (const row of rows) this.lastOfType.set(row.type, row.position);
    if (rows.length > 0) this.tailPosition = rows[rows.length - 1].position;
  }

  private prepare(sql: string): StatementSync {
    const statement = this.db.prepare(sql);
    statement.setReadBigInts(true);
    return statement;
  }

  private statement(sql: string): StatementSync {
    let statement = this.statementCache.get(sql);
    if (!statement) {
      statement = this.prepare(sql);
      if (this.statementCache.size > 200) this.statementCache.clear();
      this.statementCache.set(sql, statement);
    }
    return statement;
  }

  private assertOpen(): void {
    if (this.closed) throw new EventStoreUnavailable("event store is closed");
  }
}

/**
 * Catch-up then live. Pull-based: the consumer's pace sets the read pace. Live delivery wakes on
 * in-process commits immediately and polls the file for commits by other processes.
 */
class SqliteSubscription implements Subscription {
  private closed = false;
  private wake: (() => void) | undefined;
  private readonly iterator: AsyncGenerator<RecordedEvent>;
  private readonly removeAbortListener: () => void;

  constructor(
    private readonly store: SqliteEventStore,
    private readonly options: SubscribeOptions,
    private readonly pageSize: number,
  ) {
    this.iterator = this.run();
    this.removeAbortListener = closeOnAbort(options.signal, () => this.close());
    if (options.signal?.aborted) this.closed = true;
  }

  [Symbol.asyncIterator](): AsyncGenerator<RecordedEvent> {
    return this.iterator;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.removeAbortListener();
    this.store.forgetSubscription(this);
    this.wake?.();
  }

  private async *run(): AsyncGenerator<RecordedEvent> {
    // `cursor` is how far the store has been examined; with a filter it may pass the last
    // delivered event, which spares re-scanning filtered-out events on every poll.
    let cursor = this.options.from ?? 0n;
    try {
      while (!this.isDone()) {
        const head = this.store.headPositionSync();
        if (head > cursor) {
          const page = this.store.readAllSync(cursor, this.pageSize, this.options.filter);
          for (const event of page) {
            if (this.isDone()) return;
            cursor = event.position;
            yield event;
          }
          // A short page saw everything committed up to `head` (positions commit in order).
          if (page.length < this.pageSize && head > cursor) cursor = head;
          if (page.length === this.pageSize) continue;
        }
        await this.waitForAppends();
      }
    } finally {
      await this.close();
    }
  }

  private isDone(): boolean {
    return this.closed || this.store.isClosed();
  }

  private waitForAppends(): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        unsubscribe();
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, this.store.livePollIntervalMs);
      const unsubscribe = this.store.onAppend(done);
      this.wake = done;
    });
  }
}

export function createSqliteEventStore(options: SqliteEventStoreOptions): SqliteEventStore {
  return new SqliteEventStore(options);
}

function toRecordedEvent(row: EventRow): RecordedEvent {
  let data: unknown;
  let metadata: EventMetadata | undefined;
  return {
    id: row.id,
    type: row.type,
    // Parsed on first read: a subscriber that passes over an event by its type (the projection
    // runner does, for every inference event) never pays for its JSON.
    get data() {
      return data ??= JSON.parse(row.data);
    },
    get metadata() {
      return metadata ??= JSON.parse(row.metadata) as EventMetadata;
    },
    stream: row.stream,
    revision: row.revision,
    position: row.position,
    createdAt: new Date(Number(row.created_at)),
  };
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
