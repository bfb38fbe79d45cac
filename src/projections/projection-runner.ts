import type { EventStore, RecordedEvent, Subscription } from "../event-store/event-store.port.ts";
import { scanAll } from "../event-store/scan-all.ts";
import { logger } from "../common/json-logger.ts";
import { applyEvents, type Projection, type ProjectionStatus } from "./projection.ts";
import { ProjectionCheckpoints } from "./projection-checkpoints.ts";
import { compileFilter } from "./projection-filter.ts";
import { ReadModelFreshness, type TrackedProjection } from "./read-model-freshness.ts";
import type { ReadModelDatabase } from "./read-model.database.ts";

interface Registered extends TrackedProjection {
  /** The checkpoint as last stored; behind `checkpoint` only across events it does not match. */
  savedCheckpoint: bigint;
  /** The projection's filter, compiled once: every event of every batch goes through it. */
  matches: (event: RecordedEvent) => boolean;
  error?: string;
}

/** How long a checkpoint that only skipped events may stay unstored (a restart re-skips them). */
const CHECKPOINT_SAVE_INTERVAL_MS = 1_000;

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
 * while the others go on. Waiting for read models is ReadModelFreshness's; storing checkpoints
 * is ProjectionCheckpoints'.
 */
export class ProjectionRunner {
  private readonly registered = new Map<string, Registered>();
  private readonly checkpoints: ProjectionCheckpoints;
  private readonly freshness: ReadModelFreshness;
  private subscription?: Subscription;
  private loop?: Promise<void>;
  private running = false;
  private buffer: RecordedEvent[] = [];
  private flushScheduled = false;
  private readonly batchSize: number;
  private lastCheckpointSaveAt = 0;
  private lifecycle: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: EventStore,
    private readonly readModels: ReadModelDatabase,
    projections: Projection[] = [],
    options: ProjectionRunnerOptions = {},
  ) {
    this.batchSize = options.batchSize ?? 2_000;
    this.freshness = new ReadModelFreshness(
      store,
      this.registered,
      options.waitTimeoutMs ?? 5_000,
    );
    this.checkpoints = new ProjectionCheckpoints(readModels.db);
    for (const projection of projections) this.register(projection);
  }

  /** Adds a projection; its tables exist when this returns. Rebuilds it if its version changed. */
  register(projection: Projection): void {
    if (this.registered.has(projection.name)) {
      throw new Error(`projection ${projection.name} registered twice`);
    }
    this.freshness.projectionsChanged();
    const stored = this.checkpoints.load(projection.name);
    const current = stored?.version === projection.version ? stored : undefined;
    this.readModels.transaction(() => {
      projection.setup(this.readModels.db);
      if (!current) {
        if (stored) {
          logger.write("info", "projection version changed; rebuilding", {
            projection: projection.name,
          });
        }
        projection.reset(this.readModels.db);
        this.checkpoints.save(projection, 0n, "catching_up", null);
      }
    });
    const checkpoint = current?.position ?? 0n;
    // A projection that failed before a restart gets another try: the fix may have shipped.
    this.registered.set(projection.name, {
      projection,
      matches: compileFilter(projection.filter),
      checkpoint,
      savedCheckpoint: checkpoint,
      state: "catching_up",
      changes: 0,
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
    this.freshness.shutDown();
  }

  /** Clears a projection's rows and replays every event into it. Resolves when caught up. */
  async rebuild(name: string): Promise<void> {
    const entry = this.registered.get(name);
    if (!entry) throw new Error(`unknown projection ${name}`);
    await this.exclusively(async () => {
      await this.subscription?.close();
      await this.loop?.catch(() => undefined);
      this.flush();
      this.readModels.transaction(() => {
        entry.projection.reset(this.readModels.db);
        this.checkpoints.save(entry.projection, 0n, "catching_up", null);
      });
      entry.changes++;
      entry.checkpoint = 0n;
      entry.savedCheckpoint = 0n;
      entry.state = "catching_up";
      entry.error = undefined;
      if (this.running) this.subscribe();
      else await this.catchUpOnce();
    });
    await this.waitFor(await this.store.headPosition(), [name], 10 * 60_000);
  }

  /** See ReadModelFreshness.waitFor: bounded, rejects with ReadModelUnavailable. */
  waitFor(position: bigint, names?: string[], timeoutMs?: number): Promise<void> {
    return this.freshness.waitFor(position, names, timeoutMs);
  }

  /** See ReadModelFreshness.untilCurrent. */
  untilCurrent(names: string[]): Promise<void> {
    return this.freshness.untilCurrent(names);
  }

  /** See ReadModelFreshness.changeCount. */
  changeCount(name: string): number {
    return this.freshness.changeCount(name);
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
    await this.exclusively(async () => {
      await this.subscription?.close();
      await this.loop?.catch(() => undefined);
      this.flush();
      if (this.running) this.subscribe();
    });
  }

  /**
   * Runs one close-and-resubscribe at a time. Two overlapping ones (two rebuild requests) would
   * each close only the subscription they saw and each open a new one: two subscriptions then
   * fill the one buffer and every later event is applied twice (found by the fault schedule).
   */
  private exclusively(work: () => Promise<void>): Promise<void> {
    const run = this.lifecycle.then(work);
    this.lifecycle = run.catch(() => undefined);
    return run;
  }

  /**
   * Without a live subscription (tests, CLI, rebuilds): apply everything up to the head once, in
   * batches of batchSize read through the store's bulk scan.
   */
  async catchUpOnce(): Promise<void> {
    const pages = scanAll(this.store, { from: this.lowestCheckpoint(), pageSize: this.batchSize });
    for await (const page of pages) {
      for (let index = 0; index < page.length; index++) this.buffer.push(page[index]);
      if (this.buffer.length >= this.batchSize) this.flush();
    }
    this.flush();
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
      if (entry.state === "failed") continue;
      const events: RecordedEvent[] = [];
      const { checkpoint, matches } = entry;
      for (let index = 0; index < batch.length; index++) {
        const event = batch[index];
        if (event.position > checkpoint && matches(event)) events.push(event);
      }
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
            applyEvents(entry.projection, events, db);
            db.exec("RELEASE projection_batch");
          } catch (error) {
            db.exec("ROLLBACK TO projection_batch");
            db.exec("RELEASE projection_batch");
            failures.push([entry, error as Error]);
            continue;
          }
          this.checkpoints.save(entry.projection, last, "live", null);
        }
        for (const [entry, error] of failures) {
          this.checkpoints.save(entry.projection, entry.checkpoint, "failed", error.message);
        }
        if (saveSkipped) {
          for (const entry of this.registered.values()) {
            if (entry.state === "failed" || applying.has(entry)) continue;
            if (entry.savedCheckpoint < last) {
              this.checkpoints.save(entry.projection, last, "live", null);
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
      if (entry.state === "failed" || failed.has(entry)) continue;
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
    this.freshness.settle();
  }

  /** Stores every checkpoint that moved only across skipped events (at stop). */
  private saveSkippedCheckpoints(): void {
    const behind = [...this.registered.values()].filter((entry) =>
      entry.state !== "failed" && entry.savedCheckpoint < entry.checkpoint
    );
    if (behind.length === 0) return;
    this.readModels.transaction(() => {
      for (const entry of behind) {
        this.checkpoints.save(entry.projection, entry.checkpoint, "live", null);
      }
    });
    for (const entry of behind) entry.savedCheckpoint = entry.checkpoint;
  }

  private lowestCheckpoint(): bigint {
    let lowest: bigint | undefined;
    for (const entry of this.registered.values()) {
      if (entry.state === "failed") continue;
      if (lowest === undefined || entry.checkpoint < lowest) lowest = entry.checkpoint;
    }
    return lowest ?? 0n;
  }
}
