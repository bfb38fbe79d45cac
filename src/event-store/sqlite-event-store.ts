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
  type ScanAllOptions,
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
  WAL_CHECKPOINT_PAGES,
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
   * Where commits run: "inline" (default) on this thread; "thread" (the service's choice; needs a
   * file, not ":memory:") commits a small batch here when the write lock is free at once, and
   * hands larger batches, waits for another process's lock and WAL checkpoints to a worker
   * thread, so none of them stalls the event loop.
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

// No AUTOINCREMENT (files made before had it; both read alike): events are never deleted, so a
// plain INTEGER PRIMARY KEY gives the same positions (the largest + 1), without the
// sqlite_sequence page that AUTOINCREMENT writes on every commit (~15% of a lone append here).
const SCHEMA = `
CREATE TABLE IF NOT EXISTS events (
  position INTEGER PRIMARY KEY,
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
 * Events per scanAll page: the query's own cost is already negligible, and smaller pages scan
 * faster: a page's events die young, while a large page keeps tens of megabytes alive across
 * minor collections, which then copy them (verify over 1M events: 10.7 s with 10,000, 7.7 s with 2,000).
 */
const SCAN_PAGE_SIZE = 2_000;

/**
 * Batches up to this many appends commit on the event loop in "thread" mode when nothing else is
 * committing (about 0.1–0.2 ms of it): the worker thread's round trip cost a lone append ~0.3 ms,
 * which made a sequential writer three times slower. Larger batches, the ones that come under
 * load, still go to the worker.
 */
const INLINE_BATCH_LIMIT = 8;

/**
 * Two batches in flight keep both threads busy: the worker commits one while the event loop
 * settles the other and gathers the next (with one, each waited for the other).
 */
const BATCHES_IN_FLIGHT = 2;

/**
 * A queue is split into two batches only if each half holds at least this many appends: 64
 * writers split 32/32 appended ~25% faster than in one batch of 64, while 32 writers split 16/16
 * (each of two processes sharing the file) appended ~5% slower than unsplit; smaller
 * transactions write more WAL pages per event.
 */
const SPLIT_BATCH_MIN = 32;

/**
 * WAL pages a commit writes, about: a table page and a page of each of the two indexes per
 * event (random ids and many streams spread them), the pages shared by the batch. Measured
 * 4–5 for a lone append and ~1.7 per event in batches of 64.
 */
const estimatedWalPages = (events: number) => 2 + 2 * events;

/**
 * The embedded event store: one SQLite file, WAL, a single serialised writer per process with
 * group commit (on the event loop or a worker thread: see the `writer` option). Concurrent
 * append() calls queue up; one flush applies them in a single BEGIN IMMEDIATE … COMMIT (two
 * batches, in order, when the worker thread is busy). A refused append rejects only its own
 * promise (see SqliteAppendWriter.commit). Promises settle only after COMMIT returns, so an
 * acknowledged append is durable.
 *
 * Several processes may share the file: revisions are always read inside the write
 * transaction, a commit waits (up to busyTimeoutMs, retrying every fraction of a millisecond) for
 * another process's write lock, and live subscriptions poll the file.
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
  /** Commits on this thread's connection: always in "inline" mode, small batches in "thread". */
  private readonly inlineWriter: SqliteAppendWriter;
  private readonly threadWriter?: ThreadedAppendWriter;
  /**
   * WAL pages written by this thread's commits since the last batch the worker committed. In
   * "thread" mode this thread's commits never checkpoint (copying the WAL into the main file is
   * megabytes of work); the worker does, see walCheckpoint.
   */
  private walPagesSinceCheckpoint = 0;
  /**
   * The checkpoint in "thread" mode, in two steps so that a lone writer seldom waits for it (it
   * waited 50–110 ms every few thousand appends, now 5–20 ms): from 3/4 of WAL_CHECKPOINT_PAGES
   * the worker copies the WAL into the file while this thread goes on committing ("copying");
   * then the next batch goes to the worker ("finishing"), which first copies the few frames added
   * meanwhile, so that its commit starts the WAL over. (A copy that never caught up with the
   * commits would let the WAL grow forever.) At WAL_CHECKPOINT_PAGES commits wait for the copy,
   * as before.
   */
  private walCheckpoint: "none" | "copying" | "finishing" = "none";
  /** Batches handed to the worker thread and not yet settled; it commits them in order. */
  private batchesInFlight = 0;
  private lastBatchInFlight?: Promise<void>;

  private readonly tail: SqliteEventTypeTail;

  constructor(options: SqliteEventStoreOptions) {
    this.path = options.path;
    this.clock = options.clock ?? systemClock;
    this.pollIntervalMs = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
    this.subscriptionPageSize = options.subscriptionPageSize ?? 1000;
    if (options.path !== ":memory:") mkdirSync(dirname(options.path), { recursive: true });
    const threaded = options.writer === "thread" && options.path !== ":memory:";
    const writerOptions = {
      path: options.path,
      sync: options.sync ?? "normal",
      busyTimeoutMs: options.busyTimeoutMs ?? 5000,
    } as const;
    this.db = openStoreConnection(writerOptions);
    this.db.exec(SCHEMA);
    this.inlineWriter = new SqliteAppendWriter(this.db, writerOptions.busyTimeoutMs);
    if (threaded) {
      this.threadWriter = new ThreadedAppendWriter(writerOptions);
      this.db.exec("PRAGMA wal_autocheckpoint = 0");
    }

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

  /**
   * $all in pages of ScannedEvents (see there), for whole-history passes: 575,000 events/s against
   * readAll paging's 177,000 in bench:events. Each page is one query on this connection.
   */
  async *scanAll(options: ScanAllOptions = {}): AsyncGenerator<RecordedEvent[]> {
    const pageSize = options.pageSize ?? SCAN_PAGE_SIZE;
    const to = options.to === undefined ? Number.MAX_SAFE_INTEGER : Number(options.to);
    let after = Number(options.from ?? 0n);
    for (;;) {
      this.assertOpen();
      const page = this.reader.scanPage(
        after,
        to,
        pageSize,
        options.filter,
        options.metadataRarelyRead,
      );
      if (page.length === 0) return;
      yield page;
      if (page.length < pageSize) return;
      after = Number(page[page.length - 1].position);
    }
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
    while (this.batchesInFlight > 0 || this.queue.length > 0) {
      await (this.batchesInFlight > 0 ? this.lastBatchInFlight : this.flush());
    }
    this.closed = true;
    await this.threadWriter?.close();
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
    if (this.flushScheduled || this.batchesInFlight >= BATCHES_IN_FLIGHT) return;
    this.flushScheduled = true;
    // setImmediate (not a microtask) lets every append issued in this turn, including the
    // continuations of the previous batch's promises, join the next transaction.
    setImmediate(() => {
      this.flushScheduled = false;
      if (!this.closed && this.batchesInFlight < BATCHES_IN_FLIGHT) void this.flush();
    });
  }

  /** Commits everything queued; appends queued meanwhile form the next batch. */
  private flush(): Promise<void> {
    const queued = this.queue.length;
    if (queued === 0) return Promise.resolve();
    // With nothing in flight, a large queue goes to the worker as two batches: the second commits
    // while the first one's callers carry on here and queue the batch after it.
    const inTwo = this.threadWriter !== undefined && this.batchesInFlight === 0 &&
      queued >= 2 * SPLIT_BATCH_MIN;
    const first = this.commitBatch(this.queue.splice(0, inTwo ? Math.ceil(queued / 2) : queued));
    return inTwo ? this.commitBatch(this.queue.splice(0)) : first;
  }

  private commitBatch(batch: PendingAppend[]): Promise<void> {
    const createdAt = this.clock.now().getTime();
    const requests: AppendRequest[] = batch.map(({ stream, events, expectedRevision }) => ({
      stream,
      events,
      expectedRevision,
    }));
    const settle = (outcomes: AppendOutcome[]) => this.settle(batch, outcomes);
    const committedHere = this.batchesInFlight === 0
      ? this.commitInline(requests, createdAt)
      : undefined;
    if (committedHere) {
      settle(committedHere);
      if (this.queue.length > 0) this.scheduleFlush();
      return Promise.resolve();
    }
    this.batchesInFlight++;
    this.walPagesSinceCheckpoint = 0;
    const checkpointFirst = this.walCheckpoint !== "none";
    this.walCheckpoint = "none";
    const committed = this.threadWriter!.commit(requests, createdAt, { checkpointFirst });
    const settled = committed.then(settle).finally(() => {
      this.batchesInFlight--;
      if (this.queue.length > 0) this.scheduleFlush();
    });
    this.lastBatchInFlight = settled;
    return settled;
  }

  /** Commits `requests` on this thread, or returns undefined to leave them to the worker. */
  private commitInline(requests: AppendRequest[], createdAt: number): AppendOutcome[] | undefined {
    if (!this.threadWriter) return this.inlineWriter.commit(requests, createdAt);
    if (requests.length > INLINE_BATCH_LIMIT || this.walCheckpoint === "finishing") {
      return undefined;
    }
    if (this.walPagesSinceCheckpoint >= WAL_CHECKPOINT_PAGES) return undefined;
    const outcomes = this.inlineWriter.commitIfUnlocked(requests, createdAt);
    // Another process holds the write lock: the worker waits for it, not the event loop.
    if (outcomes === "locked") return undefined;
    const written = outcomes.reduce((sum, outcome) => sum + (outcome.ok ? outcome.written : 0), 0);
    if (written > 0) this.walPagesSinceCheckpoint += estimatedWalPages(written);
    if (
      this.walCheckpoint === "none" && this.walPagesSinceCheckpoint >= WAL_CHECKPOINT_PAGES * 0.75
    ) {
      this.walCheckpoint = "copying";
      void this.threadWriter.checkpoint().then(() => {
        if (this.walCheckpoint === "copying") this.walCheckpoint = "finishing";
      });
    }
    return outcomes;
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
