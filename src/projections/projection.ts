import type { DatabaseSync } from "node:sqlite";
import type { EventFilter, RecordedEvent } from "../event-store/event-store.port.ts";

/**
 * A read-model projection: `(event) -> read-model change`, applied inside the runner's batch
 * transaction together with the checkpoint, so an event is never applied twice or skipped.
 *
 * Projections never call external services and never read the clock: everything they need is
 * in the event. Bump `version` when the row shape or the logic changes: the runner then
 * rebuilds the projection from position 0 at start.
 */
export interface Projection {
  readonly name: string;
  readonly version: number;
  /**
   * False: read-your-writes waits (`untilCurrent`) ignore this projection's event types, for a
   * read model only background processes read, fed by events of the request hot path.
   */
  readonly readersWait?: boolean;
  /** Only these events are fed to apply(); narrower filters make rebuilds faster. */
  readonly filter?: EventFilter;
  /** Create tables and indexes (idempotent). */
  setup(db: DatabaseSync): void;
  /** Remove every row this projection owns, before a rebuild. */
  reset(db: DatabaseSync): void;
  /** Apply one event. Synchronous: runs inside the batch transaction. Throwing stops the projection. */
  apply(event: RecordedEvent, db: DatabaseSync): void;
  /**
   * Optional: apply a batch's events, in order, with exactly the effect of apply() on each in
   * turn, in the same transaction. For projections that write in bulk (MultiRowInsert): a
   * rebuild then runs a statement per few hundred events instead of one or more per event.
   */
  applyBatch?(events: readonly RecordedEvent[], db: DatabaseSync): void;
}

/** Applies events in order: in one applyBatch() call where the projection has it. */
export function applyEvents(
  projection: Projection,
  events: readonly RecordedEvent[],
  db: DatabaseSync,
): void {
  if (projection.applyBatch) projection.applyBatch(events, db);
  else for (const event of events) projection.apply(event, db);
}

export type ProjectionState = "catching_up" | "live" | "failed";

export interface ProjectionStatus {
  name: string;
  version: number;
  state: ProjectionState;
  checkpoint: bigint;
  head: bigint;
  lag: bigint;
  error?: string;
}
