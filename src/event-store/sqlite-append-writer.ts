import { DatabaseSync, type StatementSync } from "node:sqlite";
import {
  EventIdConflict,
  EventStoreUnavailable,
  type ExpectedRevision,
  WrongExpectedVersion,
} from "./event-store.port.ts";
import { revisionMatches } from "./event-filter.ts";

/**
 * The embedded store's write side: one connection that commits batches of appends, each batch
 * in one BEGIN IMMEDIATE … COMMIT (group commit). It runs on the store's own thread or, so the
 * commits never hold up request handling, on a worker thread (sqlite-writer.worker.ts); both
 * exchange only plain, structured-clone-safe values, so the two are the same code.
 */

export interface SerializedEvent {
  id: string;
  type: string;
  data: string;
  metadata: string;
}

export interface AppendRequest {
  stream: string;
  events: SerializedEvent[];
  expectedRevision: ExpectedRevision;
}

/** Why one append was refused, as plain data; `toAppendError` turns it back into the error. */
export type AppendFailure =
  | { kind: "wrong_expected_version"; stream: string; expected: ExpectedRevision; actual: bigint }
  | { kind: "event_id_conflict"; stream: string; detail: string }
  | { kind: "unavailable"; message: string }
  | { kind: "error"; message: string };

export type AppendOutcome =
  | { ok: true; nextExpectedRevision: bigint; position: bigint; written: number }
  | { ok: false; failure: AppendFailure };

export interface AppendWriterOptions {
  path: string;
  sync: "normal" | "full";
  /** How long a commit waits for another connection's (another process's) write lock. */
  busyTimeoutMs: number;
}

/**
 * Pauses between attempts at the write lock while another process holds it. SQLite's own busy
 * handler sleeps 1, 2, 5, 10… ms, several times a commit's length here; waking every fraction of
 * a millisecond hands the lock over almost as soon as it is released.
 */
const FIRST_LOCK_PAUSE_MS = 0.02;
const LONGEST_LOCK_PAUSE_MS = 0.1;
const pauseCell = new Int32Array(new SharedArrayBuffer(4));

/** The WAL size, in pages, past which a commit copies the WAL back into the main file. */
export const WAL_CHECKPOINT_PAGES = 10_000;

/**
 * Opens a connection to the store file with the store's settings. Both the writer's and the
 * readers' connections use it: synchronous and the checkpoint size are per connection.
 */
export function openStoreConnection(options: AppendWriterOptions): DatabaseSync {
  const db = new DatabaseSync(options.path);
  db.exec(`PRAGMA busy_timeout = ${Math.trunc(options.busyTimeoutMs)}`);
  if (options.path !== ":memory:") db.exec("PRAGMA journal_mode = WAL");
  db.exec(`PRAGMA synchronous = ${options.sync === "full" ? "FULL" : "NORMAL"}`);
  // Random UUIDs in the id index dirty many pages per commit; checkpointing the WAL into the
  // main file less often (about 40 MB of WAL instead of 4 MB) raised group-commit throughput
  // by ~50% here. Checkpoints do not affect durability: committed frames are in the WAL.
  db.exec(`PRAGMA wal_autocheckpoint = ${WAL_CHECKPOINT_PAGES}`);
  db.exec("PRAGMA cache_size = -32768");
  return db;
}

export class SqliteAppendWriter {
  private readonly begin: StatementSync;
  private readonly commitStatement: StatementSync;
  private readonly rollback: StatementSync;
  private readonly savepoint: StatementSync;
  private readonly releaseSavepoint: StatementSync;
  private readonly rollbackToSavepoint: StatementSync;
  private readonly stopBusyWaits: StatementSync;
  private readonly restoreBusyWaits: StatementSync;
  private readonly selectRevision: StatementSync;
  private readonly insertEvent: StatementSync;
  private readonly selectById: StatementSync;
  private readonly selectHead: StatementSync;

  /**
   * `db` is the connection to write on (the writer never closes it); `busyTimeoutMs` is how long
   * `commit` waits for another connection's write lock, and the connection's own busy timeout,
   * which its reads keep.
   */
  constructor(private readonly db: DatabaseSync, private readonly busyTimeoutMs: number) {
    // Prepared once: exec() would parse these again for every append of every batch.
    this.begin = this.prepare("BEGIN IMMEDIATE");
    this.commitStatement = this.prepare("COMMIT");
    this.rollback = this.prepare("ROLLBACK");
    this.savepoint = this.prepare("SAVEPOINT append");
    this.releaseSavepoint = this.prepare("RELEASE append");
    this.rollbackToSavepoint = this.prepare("ROLLBACK TO append");
    this.stopBusyWaits = this.prepare("PRAGMA busy_timeout = 0");
    this.restoreBusyWaits = this.prepare(`PRAGMA busy_timeout = ${Math.trunc(busyTimeoutMs)}`);
    this.selectRevision = this.prepare(
      "SELECT max(revision) AS revision FROM events WHERE stream = ?",
    );
    // run()'s lastInsertRowid, not RETURNING: SQLite builds RETURNING's rows in a temporary table.
    this.insertEvent = this.prepare(
      "INSERT INTO events (id, stream, revision, type, data, metadata, created_at) " +
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
    );
    this.selectById = this.prepare("SELECT stream, revision, position FROM events WHERE id = ?");
    this.selectHead = this.prepare("SELECT coalesce(max(position), 0) AS head FROM events");
  }

  /**
   * Commits `batch` in one transaction, waiting up to the busy timeout for the write lock. A
   * multi-event append of a batch runs inside its own savepoint so a refused one rolls back
   * alone; a single-event append needs none (a failed INSERT undoes itself) and neither does a
   * lone append (the transaction is its savepoint). Returns one outcome per append; when the
   * transaction itself fails every outcome says unavailable.
   */
  commit(batch: AppendRequest[], createdAt: number): AppendOutcome[] {
    return this.commitWaiting(batch, createdAt, this.busyTimeoutMs) as AppendOutcome[];
  }

  /** Like `commit`, but only if no other connection holds the write lock: "locked" if one does. */
  commitIfUnlocked(batch: AppendRequest[], createdAt: number): AppendOutcome[] | "locked" {
    return this.commitWaiting(batch, createdAt, 0);
  }

  private commitWaiting(
    batch: AppendRequest[],
    createdAt: number,
    lockWaitMs: number,
  ): AppendOutcome[] | "locked" {
    try {
      if (!this.beginWithin(lockWaitMs)) {
        if (lockWaitMs === 0) return "locked";
        return batch.map(() =>
          unavailable(`cannot begin write: the store file stayed locked for ${lockWaitMs} ms`)
        );
      }
    } catch (error) {
      return batch.map(() => unavailable(`cannot begin write: ${errorMessage(error)}`));
    }
    const lone = batch.length === 1;
    const outcomes: AppendOutcome[] = [];
    try {
      for (const append of batch) {
        const undo = lone ? "transaction" : append.events.length > 1 ? "savepoint" : "statement";
        if (undo === "savepoint") this.savepoint.run();
        try {
          outcomes.push(this.apply(append, createdAt, undo));
          if (undo === "savepoint") this.releaseSavepoint.run();
        } catch (error) {
          if (undo === "savepoint") {
            this.rollbackToSavepoint.run();
            this.releaseSavepoint.run();
          } else if (undo === "transaction" || !isRefusal(error)) throw error;
          // A refused single-event append of a batch wrote nothing: `apply` refuses before
          // inserting, or its one INSERT failed and SQLite undid that statement.
          outcomes.push({ ok: false, failure: toFailure(error) });
        }
      }
      this.commitStatement.run();
    } catch (error) {
      try {
        this.rollback.run();
      } catch {
        // The transaction may already be gone; the original error is the one to report.
      }
      // A lone append refused on its merits (not a storage fault) keeps its own reason.
      if (lone && outcomes.length === 0 && isRefusal(error)) {
        return [{ ok: false, failure: toFailure(error) }];
      }
      return batch.map(() => unavailable(`write failed: ${errorMessage(error)}`));
    }
    return outcomes;
  }

  /**
   * BEGIN IMMEDIATE, retried with short pauses while another connection holds the write lock;
   * false if it still does after `waitMs`. The pauses block this thread, as SQLite's own busy
   * wait would: the store waits only off the event loop unless it was configured inline.
   */
  private beginWithin(waitMs: number): boolean {
    this.stopBusyWaits.run();
    try {
      const deadline = performance.now() + waitMs;
      for (
        let pauseMs = FIRST_LOCK_PAUSE_MS;;
        pauseMs = Math.min(pauseMs * 2, LONGEST_LOCK_PAUSE_MS)
      ) {
        try {
          this.begin.run();
          return true;
        } catch (error) {
          if (!isBusy(error)) throw error;
        }
        const leftMs = deadline - performance.now();
        if (leftMs <= 0) return false;
        Atomics.wait(pauseCell, 0, 0, Math.min(pauseMs, leftMs));
      }
    } finally {
      this.restoreBusyWaits.run();
    }
  }

  /**
   * Runs inside the batch transaction; throws to refuse. `undo` says how a partial insert is
   * undone: its savepoint, the whole (lone) transaction, or nothing beyond the failed statement.
   */
  private apply(
    append: AppendRequest,
    createdAt: number,
    undo: "savepoint" | "transaction" | "statement",
  ): AppendOutcome {
    const { stream, events, expectedRevision } = append;
    const current = this.currentRevision(stream);
    if (!revisionMatches(expectedRevision, current)) {
      const replay = this.findIdempotentReplay(append);
      if (replay) return replay;
      throw new WrongExpectedVersion(stream, expectedRevision, current);
    }
    if (events.length === 0) {
      const head = (this.selectHead.get() as { head: bigint }).head;
      return { ok: true, nextExpectedRevision: current, position: head, written: 0 };
    }
    let revision = current;
    let position = 0n;
    let inserted = 0;
    try {
      for (const event of events) {
        revision += 1n;
        position = this.insertEvent.run(
          event.id,
          stream,
          revision,
          event.type,
          event.data,
          event.metadata,
          createdAt,
        ).lastInsertRowid as bigint;
        inserted++;
      }
    } catch (error) {
      if (!isDuplicateEventId(error)) throw error;
      // Undo the partial insert before looking at what is already stored.
      if (inserted > 0 && undo === "savepoint") this.rollbackToSavepoint.run();
      else if (inserted > 0) {
        // A lone append has no savepoint, but the transaction holds nothing else.
        this.rollback.run();
        this.begin.run();
      }
      const replay = this.findIdempotentReplay(append);
      if (replay) return replay;
      throw new EventIdConflict(
        stream,
        `some event ids of this append are already stored elsewhere or only partly in ${stream}`,
      );
    }
    return { ok: true, nextExpectedRevision: revision, position, written: events.length };
  }

  private currentRevision(stream: string): bigint {
    const row = this.selectRevision.get(stream) as { revision: bigint | null };
    return row.revision ?? -1n;
  }

  /**
   * EventStoreDB's idempotency: the append is a replay when every one of its event ids is
   * already stored, in this stream, as one contiguous run in the same order, starting where
   * the expected revision says it would have started.
   */
  private findIdempotentReplay(append: AppendRequest): AppendOutcome | undefined {
    const { stream, events, expectedRevision } = append;
    if (events.length === 0) return undefined;
    let first: bigint | undefined;
    let last: { revision: bigint; position: bigint } | undefined;
    for (const [index, event] of events.entries()) {
      const row = this.selectById.get(event.id) as
        | { stream: string; revision: bigint; position: bigint }
        | undefined;
      if (!row || row.stream !== stream) return undefined;
      if (index === 0) first = row.revision;
      else if (row.revision !== first! + BigInt(index)) return undefined;
      last = row;
    }
    if (expectedRevision === "no_stream" && first !== 0n) return undefined;
    if (typeof expectedRevision === "bigint" && first !== expectedRevision + 1n) return undefined;
    return { ok: true, nextExpectedRevision: last!.revision, position: last!.position, written: 0 };
  }

  private prepare(sql: string): StatementSync {
    const statement = this.db.prepare(sql);
    statement.setReadBigInts(true);
    return statement;
  }
}

/**
 * A batch as one JSON string for the worker thread: a string crosses threads far cheaper than a
 * structured clone of a few hundred small objects, which Deno's worker_threads also walks in
 * search of message ports (together ~9% of the writer thread's time with 64 writers, profiled).
 */
export function encodeBatch(batch: AppendRequest[]): string {
  return JSON.stringify(
    batch,
    (_key, value) => typeof value === "bigint" ? { revision: String(value) } : value,
  );
}

export function decodeBatch(text: string): AppendRequest[] {
  const batch = JSON.parse(text) as {
    stream: string;
    events: SerializedEvent[];
    expectedRevision: ExpectedRevision | { revision: string };
  }[];
  return batch.map(({ stream, events, expectedRevision }) => ({
    stream,
    events,
    expectedRevision: typeof expectedRevision === "object"
      ? BigInt(expectedRevision.revision)
      : expectedRevision,
  }));
}

/**
 * A batch's outcomes as one JSON string for the way back: posting the outcome objects cost the
 * worker thread ~9% of its time with 64 writers (profiled), a string almost nothing.
 */
export function encodeOutcomes(outcomes: AppendOutcome[]): string {
  return JSON.stringify(
    outcomes,
    (_key, value) => typeof value === "bigint" ? { bigint: String(value) } : value,
  );
}

export function decodeOutcomes(text: string): AppendOutcome[] {
  return JSON.parse(
    text,
    (_key, value) =>
      typeof value === "object" && value !== null && typeof value.bigint === "string"
        ? BigInt(value.bigint)
        : value,
  );
}

/** The error an append's caller sees for a failure reported by the writer. */
export function toAppendError(failure: AppendFailure): Error {
  switch (failure.kind) {
    case "wrong_expected_version":
      return new WrongExpectedVersion(failure.stream, failure.expected, failure.actual);
    case "event_id_conflict":
      return new EventIdConflict(failure.stream, failure.detail);
    case "unavailable":
      return new EventStoreUnavailable(failure.message);
    case "error":
      return new Error(failure.message);
  }
}

function toFailure(error: unknown): AppendFailure {
  if (error instanceof WrongExpectedVersion) {
    return {
      kind: "wrong_expected_version",
      stream: error.stream,
      expected: error.expected,
      actual: error.actual,
    };
  }
  if (error instanceof EventIdConflict) {
    return {
      kind: "event_id_conflict",
      stream: error.stream,
      detail: error.message.replace(/^Event id conflict on [^:]*: /, ""),
    };
  }
  return { kind: "error", message: errorMessage(error) };
}

const unavailable = (message: string): AppendOutcome => ({
  ok: false,
  failure: { kind: "unavailable", message },
});

const isRefusal = (error: unknown) =>
  error instanceof WrongExpectedVersion || error instanceof EventIdConflict;

function isBusy(error: unknown): boolean {
  return /SQLITE_BUSY|database is locked/i.test(errorMessage(error)) ||
    (error as { errcode?: number })?.errcode === 5;
}

function isDuplicateEventId(error: unknown): boolean {
  return /UNIQUE constraint failed: events\.id/.test(errorMessage(error));
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
