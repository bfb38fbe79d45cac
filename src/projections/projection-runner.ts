import type { StatementSync } from "node:sqlite";
import type { EventStore, RecordedEvent, Subscription } from "../event-store/event-store.port.ts";
import { ApiError } from "../common/api-error.ts";
import { logger } from "../common/json-logger.ts";
import type { Projection, ProjectionState, ProjectionStatus } from "./projection.ts";
import type { ReadModelDatabase } from "./read-model.database.ts";

interface Registered {
  projection: Projection;
  checkpoint: bigint;
  /** The checkpoint as last stored; behind `checkpoint` only across events it does not match. */
  savedCheckpoint: bigint;
  state: ProjectionState;
  error?: string;
  /** Bumped whenever the projection's rows change (see changeCount). */
  changes: number;
  matches(event: RecordedEvent): boolean;
}

/**
 * The embedded store's cheap "last position of these event types" (SqliteEventStore), found
 * through the metrics wrapper; other stores answer freshness checks with their head.
 */
interface EventTypeTail {
  lastPositionOf(types: Iterable<string>): bigint;
}

/** How long a checkpoint that only skipped events may stay unstored (a restart re-skips them). */
const CHECKPOINT_SAVE_INTERVAL_MS = 1_000;

interface Waiter {
  position: bigint;
  names?: string[];
  resolve(): void;
  reject(error: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

export interface ProjectionRunnerOptions {
  /** Most events applied in one read-model transaction. */
  batchSize?: number;
  /** Default bound for waitFor(). */
  waitTimeoutMs?: number;
}

/**
 * Feeds every registered projection from ONE checkpointed `$all` subscription. Each batch is
 * applied in one read-model transaction that also moves every projection's checkpoint, so a
 * crash never applies an event twice or skips one. Each projection runs inside its own
 * savepoint: one that throws is rolled back, marked `failed` with its error, and no longer fed,
 * while the others go on.
 */
export class ProjectionRunner {
  private readonly registered = new Map<string, Registered>();
  private readonly waiters = new Set<Waiter>();
  private subscription?: Subscription;
  private loop?: Promise<void>;
  private running = false;
  private buffer: RecordedEvent[] = [];
  private flushScheduled = false;
  private readonly batchSize: number;
  private readonly waitTimeoutMs: number;
  private appliedEvents = 0;
  private saveCheckpointStatement?: StatementSync;
  private lastCheckpointSaveAt = 0;
  /** Every event type some projection reads (null: one reads every type); undefined: not known. */
  private readTypes?: string[] | null;

  /** The store's per-event-type tail, looked up once: untilCurrent runs on every request. */
  private readonly tail: EventTypeTail | undefined;

  constructor(
    private readonly store: EventStore,
    private readonly readModels: ReadModelDatabase,
    projections: Projection[] = [],
    options: ProjectionRunnerOptions = {},
  ) {
    this.tail = eventTypeTailOf(store);
    this.batchSize = options.batchSize ?? 2_000;
    this.waitTimeoutMs = options.waitTimeoutMs ?? 5_000;
    this.readModels.db.exec(`CREATE TABLE IF NOT EXISTS projection_checkpoints (
      name TEXT PRIMARY KEY, version INTEGER NOT NULL, position INTEGER NOT NULL,
      state TEXT NOT NULL, error TEXT)`);
    for (const projection of projections) this.register(projection);
  }

  /** Adds a projection; its tables exist when this returns. Rebuilds it if its version changed. */
  register(projection: Projection): void {
    if (this.registered.has(projection.name)) {
      throw new Error(`projection ${projection.name} registered twice`);
    }
    this.readTypes = undefined;
    const db = this.readModels.db;
    const row = db.prepare(
      "SELECT version, position, state, error FROM projection_checkpoints WHERE name = ?",
    )
      .get(projection.name) as
        | { version: number; position: number | bigint; state: string; error: string | null }
        | undefined;
    this.readModels.transaction(() => {
      projection.setup(db);
      if (!row || row.version !== projection.version) {
        if (row) {
          logger.write("info", "projection version changed; rebuilding", {
            projection: projection.name,
          });
        }
        projection.reset(db);
        this.saveCheckpoint(projection, 0n, "catching_up", null);
      }
    });
    const checkpoint = row && row.version === projection.version ? BigInt(row.position) : 0n;
    // A projection that failed before a restart gets another try: the fix may have shipped.
    this.registered.set(projection.name, {
      projection,
      checkpoint,
      savedCheckpoint: checkpoint,
      state: "catching_up",
      changes: 0,
      matches: matcherOf(projection),
    });
    if (this.running) void this.restart();
  }

  get projections(): Projection[] {
    return [...this.registered.values()].map((entry) => entry.projection);
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.subscribe();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.subscription?.close();
    await this.loop?.catch(() => undefined);
    this.flush();
    this.saveSkippedCheckpoints();
    for (const waiter of this.waiters) {
      clearTimeout(waiter.timer);
      waiter.reject(new ApiError(503, "The service is shutting down.", { code: "shutting_down" }));
    }
    this.waiters.clear();
  }

  /** Clears a projection's rows and replays every event into it. Resolves when caught up. */
  async rebuild(name: string): Promise<void> {
    const entry = this.registered.get(name);
    if (!entry) throw new Error(`unknown projection ${name}`);
    await this.subscription?.close();
    await this.loop?.catch(() => undefined);
    this.flush();
    this.readModels.transaction(() => {
      entry.projection.reset(this.readModels.db);
      this.saveCheckpoint(entry.projection, 0n, "catching_up", null);
    });
    entry.changes++;
    entry.checkpoint = 0n;
    entry.savedCheckpoint = 0n;
    entry.state = "catching_up";
    entry.error = undefined;
    if (this.running) this.subscribe();
    else await this.catchUpOnce();
    await this.waitFor(await this.store.headPosition(), [name], 10 * 60_000);
  }

  /**
   * Resolves once the named projections (all by default) have applied every event up to
   * `position`, so a query after a write never reads stale rows. Bounded: a 503 after the timeout.
   */
  waitFor(position: bigint, names?: string[], timeoutMs = this.waitTimeoutMs): Promise<void> {
    const failure = this.failureAmong(names);
    if (failure) return Promise.reject(failure);
    if (this.reached(position, names)) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        position,
        names,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.delete(waiter);
          reject(
            new ApiError(503, "Read model is behind; try again shortly.", {
              code: "projection_lagging",
              headers: { "retry-after": "1" },
            }),
          );
        }, timeoutMs),
      };
      this.waiters.add(waiter);
    });
  }

  /**
   * Resolves once the named projections have applied every event the store holds now, from any
   * instance sharing it, of a type that any projection reads. One subscription feeds every
   * projection in the same batches, so from then on no read model misses a write acknowledged
   * before the call; `names` only decides whose failure fails the wait. With the embedded store
   * events no projection reads (inference usage) are skipped for one indexed head read, so they
   * never make a caller wait; with another store the whole head counts.
   */
  untilCurrent(names: string[]): Promise<void> {
    const tail = this.tail;
    const types = tail && this.typesReadByProjections();
    if (tail && types) return this.waitFor(tail.lastPositionOf(types), names);
    return this.store.headPosition().then((head) => this.waitFor(head, names));
  }

  /**
   * A number that changes whenever the projection's rows may have changed (events applied, a
   * rebuild): a cache of query results over its rows stays valid while it stays the same.
   */
  changeCount(name: string): number {
    return this.selected([name])[0].changes;
  }

  async status(): Promise<ProjectionStatus[]> {
    const head = await this.store.headPosition();
    return [...this.registered.values()].map((entry) => ({
      name: entry.projection.name,
      version: entry.projection.version,
      // Nothing left to catch up on (e.g. an empty store) counts as live.
      state: entry.state === "catching_up" && this.running && entry.checkpoint >= head
        ? "live"
        : entry.state,
      checkpoint: entry.checkpoint,
      head,
      lag: head > entry.checkpoint ? head - entry.checkpoint : 0n,
      ...(entry.error ? { error: entry.error } : {}),
    }));
  }

  get eventsApplied(): number {
    return this.appliedEvents;
  }

  private subscribe(): void {
    const from = this.lowestCheckpoint();
    const subscription = this.store.subscribeToAll({ from });
    this.subscription = subscription;
    this.loop = (async () => {
      try {
        for await (const event of subscription) {
          this.buffer.push(event);
          if (this.buffer.length >= this.batchSize) this.flush();
          else this.scheduleFlush();
        }
      } catch (error) {
        if (!this.running) return;
        logger.write("error", "projection subscription dropped; resubscribing", {
          error: (error as Error).message,
        });
        this.flush();
        await new Promise((resolve) => setTimeout(resolve, 500));
        if (this.running && this.subscription === subscription) this.subscribe();
      }
    })();
  }

  private async restart(): Promise<void> {
    await this.subscription?.close();
    await this.loop?.catch(() => undefined);
    this.flush();
    if (this.running) this.subscribe();
  }

  /** Without a live subscription (tests, CLI): apply everything up to the head once. */
  async catchUpOnce(): Promise<void> {
    for (;;) {
      const events = await this.store.readAll({
        from: this.lowestCheckpoint(),
        maxCount: this.batchSize,
      });
      if (events.length === 0) break;
      this.buffer.push(...events);
      this.flush();
    }
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // setImmediate lets a catch-up page drain into the buffer before one transaction applies it.
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    if (this.buffer.length === 0) return;
    const batch = this.buffer;
    this.buffer = [];
    const db = this.readModels.db;
    const last = batch[batch.length - 1].position;
    const work: Array<[Registered, RecordedEvent[]]> = [];
    for (const entry of this.registered.values()) {
      if (entry.state === "failed" || entry.state === "stopped") continue;
      const events = batch.filter((event) =>
        event.position > entry.checkpoint && entry.matches(event)
      );
      if (events.length > 0) work.push([entry, events]);
    }
    const applying = new Set(work.map(([entry]) => entry));
    // Checkpoints of projections that only skipped events are stored now and then, not per batch:
    // without anything to apply and nothing due, a batch costs no read-model transaction at all.
    const now = performance.now();
    const saveSkipped = now - this.lastCheckpointSaveAt >= CHECKPOINT_SAVE_INTERVAL_MS;
    const failures: Array<[Registered, Error]> = [];
    if (work.length > 0 || saveSkipped) {
      db.exec("BEGIN");
      try {
        for (const [entry, events] of work) {
          db.exec("SAVEPOINT projection_batch");
          try {
            for (const event of events) {
              entry.projection.apply(event, db);
              this.appliedEvents++;
            }
            db.exec("RELEASE projection_batch");
          } catch (error) {
            db.exec("ROLLBACK TO projection_batch");
            db.exec("RELEASE projection_batch");
            failures.push([entry, error as Error]);
            continue;
          }
          this.saveCheckpoint(entry.projection, last, "live", null);
        }
        for (const [entry, error] of failures) {
          this.saveCheckpoint(entry.projection, entry.checkpoint, "failed", error.message);
        }
        if (saveSkipped) {
          for (const entry of this.registered.values()) {
            if (entry.state === "failed" || entry.state === "stopped") continue;
            if (applying.has(entry)) continue;
            if (entry.savedCheckpoint < last) {
              this.saveCheckpoint(entry.projection, last, "live", null);
            }
          }
        }
        db.exec("COMMIT");
      } catch (error) {
        db.exec("ROLLBACK");
        throw error;
      }
      if (saveSkipped) this.lastCheckpointSaveAt = now;
    }
    const failed = new Set(failures.map(([entry]) => entry));
    for (const entry of applying) if (!failed.has(entry)) entry.changes++;
    for (const entry of this.registered.values()) {
      if (entry.state === "failed" || entry.state === "stopped" || failed.has(entry)) continue;
      if (entry.checkpoint < last) entry.checkpoint = last;
      if (saveSkipped || applying.has(entry)) {
        entry.savedCheckpoint = entry.checkpoint;
      }
      entry.state = "live";
    }
    for (const [entry, error] of failures) {
      entry.state = "failed";
      entry.error = error.message;
      logger.write("error", "projection failed and stopped", {
        projection: entry.projection.name,
        position: String(entry.checkpoint),
        error: error.message,
      });
    }
    this.settleWaiters();
  }

  /** Stores every checkpoint that moved only across skipped events (at stop). */
  private saveSkippedCheckpoints(): void {
    const behind = [...this.registered.values()].filter((entry) =>
      entry.state !== "failed" && entry.state !== "stopped" &&
      entry.savedCheckpoint < entry.checkpoint
    );
    if (behind.length === 0) return;
    this.readModels.transaction(() => {
      for (const entry of behind) {
        this.saveCheckpoint(entry.projection, entry.checkpoint, "live", null);
      }
    });
    for (const entry of behind) entry.savedCheckpoint = entry.checkpoint;
  }

  private settleWaiters(): void {
    for (const waiter of this.waiters) {
      const failure = this.failureAmong(waiter.names);
      if (failure) {
        clearTimeout(waiter.timer);
        this.waiters.delete(waiter);
        waiter.reject(failure);
      } else if (this.reached(waiter.position, waiter.names)) {
        clearTimeout(waiter.timer);
        this.waiters.delete(waiter);
        waiter.resolve();
      }
    }
  }

  private reached(position: bigint, names?: string[]): boolean {
    for (const entry of this.selected(names)) {
      if (entry.checkpoint < position) return false;
    }
    return true;
  }

  private failureAmong(names?: string[]): ApiError | undefined {
    for (const entry of this.selected(names)) {
      if (entry.state === "failed") {
        return new ApiError(503, `Read model '${entry.projection.name}' is unavailable.`, {
          code: "projection_failed",
        });
      }
    }
    return undefined;
  }

  private selected(names?: string[]): Registered[] {
    if (!names) return [...this.registered.values()];
    return names.map((name) => {
      const entry = this.registered.get(name);
      if (!entry) throw new Error(`unknown projection ${name}`);
      return entry;
    });
  }

  private lowestCheckpoint(): bigint {
    let lowest: bigint | undefined;
    for (const entry of this.registered.values()) {
      if (entry.state === "failed" || entry.state === "stopped") continue;
      if (lowest === undefined || entry.checkpoint < lowest) lowest = entry.checkpoint;
    }
    return lowest ?? 0n;
  }

  private saveCheckpoint(
    projection: Projection,
    position: bigint,
    state: ProjectionState,
    error: string | null,
  ): void {
    this.saveCheckpointStatement ??= this.readModels.db.prepare(
      `INSERT INTO projection_checkpoints (name, version, position, state, error) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT(name) DO UPDATE SET version = excluded.version, position = excluded.position,
       state = excluded.state, error = excluded.error`,
    );
    this.saveCheckpointStatement.run(projection.name, projection.version, position, state, error);
  }

  /** Every event type some projection reads, or null when one of them reads every type. */
  private typesReadByProjections(): string[] | null {
    if (this.readTypes === undefined) {
      const filters = [...this.registered.values()]
        .filter((entry) => entry.projection.readersWait !== false)
        .map((entry) => entry.projection.filter?.eventTypes);
      this.readTypes = filters.every((wanted) => wanted !== undefined)
        ? [...new Set(filters.flatMap((wanted) => wanted!))]
        : null;
    }
    return this.readTypes;
  }
}

function eventTypeTailOf(store: EventStore): EventTypeTail | undefined {
  const tail = store as Partial<EventTypeTail>;
  return typeof tail.lastPositionOf === "function" ? tail as EventTypeTail : undefined;
}

/** The projection's filter as one predicate, with its type list as a Set. */
function matcherOf(projection: Projection): (event: RecordedEvent) => boolean {
  const filter = projection.filter;
  if (!filter) return () => true;
  const types = filter.eventTypes ? new Set(filter.eventTypes) : undefined;
  const prefixes = filter.streamPrefixes;
  return (event) =>
    (!types || types.has(event.type)) &&
    (!prefixes || prefixes.some((prefix) => event.stream.startsWith(prefix)));
}
