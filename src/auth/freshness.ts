import type { EventStore } from "../event-store/event-store.port.ts";
import type { ProjectionRunner } from "../projections/projection-runner.ts";

/**
 * Waits until the named projections, and with them every read model (one subscription feeds
 * them all), have applied every event the store holds right now that a projection reads, so a
 * read never misses a write acknowledged before it, on this or any instance sharing the store.
 * Costs one head-position read (a SQLite index lookup on the embedded store), plus a wait only
 * when such an event has not arrived through the subscription yet: appends no projection reads
 * (inference usage) never hold a request up.
 */
export function untilCurrent(
  _store: EventStore,
  runner: ProjectionRunner,
  projections: string[],
): Promise<void> {
  return runner.untilCurrent(projections);
}
