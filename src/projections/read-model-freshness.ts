import type { EventStore } from "../event-store/event-store.port.ts";
import { type EventTypeTail, findEventTypeTail } from "../event-store/event-type-tail.ts";
import type { Projection, ProjectionState } from "./projection.ts";
import { ReadModelUnavailable } from "./read-model-unavailable.ts";

/** What freshness needs to know of a registered projection; the runner keeps it current. */
export interface TrackedProjection {
  readonly projection: Projection;
  /** Every event up to here has been applied or skipped. */
  checkpoint: bigint;
  state: ProjectionState;
  /** Bumped whenever the projection's rows change (see changeCount). */
  changes: number;
}

interface Waiter {
  position: bigint;
  names?: string[];
  resolve(): void;
  reject(error: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * Read-your-writes for queries: callers wait until the projections they read have reached a
 * position, bounded in time, and are told (ReadModelUnavailable) when a read model is behind,
 * has failed, or the service is stopping. The runner calls `settle()` after every batch.
 */
export class ReadModelFreshness {
  private readonly waiters = new Set<Waiter>();
  /** Every event type some projection reads (null: one reads every type); undefined: not known. */
  private readTypes?: string[] | null;
  /** The store's per-event-type tail, looked up once: untilCurrent runs on every request. */
  private readonly tail: EventTypeTail | undefined;

  constructor(
    private readonly store: EventStore,
    private readonly tracked: ReadonlyMap<string, TrackedProjection>,
    private readonly waitTimeoutMs: number,
  ) {
    this.tail = findEventTypeTail(store);
  }

  /** The set of projections changed: the event types they read must be collected again. */
  projectionsChanged(): void {
    this.readTypes = undefined;
  }

  /**
   * Resolves once the named projections (all by default) have applied every event up to
   * `position`, so a query after a write never reads stale rows. Bounded: projection_lagging
   * (a 503) after the timeout.
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
          reject(ReadModelUnavailable.lagging());
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

  /** Resolves the waiters whose projections got there and rejects those whose projection failed. */
  settle(): void {
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

  /** Rejects every waiter: nothing will move the checkpoints any more. */
  shutDown(): void {
    for (const waiter of this.waiters) {
      clearTimeout(waiter.timer);
      waiter.reject(ReadModelUnavailable.shuttingDown());
    }
    this.waiters.clear();
  }

  private reached(position: bigint, names?: string[]): boolean {
    for (const entry of this.selected(names)) {
      if (entry.checkpoint < position) return false;
    }
    return true;
  }

  private failureAmong(names?: string[]): ReadModelUnavailable | undefined {
    for (const entry of this.selected(names)) {
      if (entry.state === "failed") return ReadModelUnavailable.failed(entry.projection.name);
    }
    return undefined;
  }

  private selected(names?: string[]): TrackedProjection[] {
    if (!names) return [...this.tracked.values()];
    return names.map((name) => {
      const entry = this.tracked.get(name);
      if (!entry) throw new Error(`unknown projection ${name}`);
      return entry;
    });
  }

  /** Every event type some projection reads, or null when one of them reads every type. */
  private typesReadByProjections(): string[] | null {
    if (this.readTypes === undefined) {
      const filters = [...this.tracked.values()]
        .filter((entry) => entry.projection.readersWait !== false)
        .map((entry) => entry.projection.filter?.eventTypes);
      this.readTypes = filters.every((wanted) => wanted !== undefined)
        ? [...new Set(filters.flatMap((wanted) => wanted!))]
        : null;
    }
    return this.readTypes;
  }
}
