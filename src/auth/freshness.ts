import type { EventStore } from "../event-store/event-store.port.ts";
import type { ProjectionRunner } from "../projections/projection-runner.ts";

/**
 * Waits until the named projections have applied everything the store holds right now, so a
 * read never misses a write acknowledged before it, on this or any instance sharing the store.
 * Costs one head-position read (a SQLite index lookup on the embedded store), plus a wait only
 * when another writer's events have not arrived through the subscription yet.
 */
export async function untilCurrent(
  store: EventStore,
  runner: ProjectionRunner,
  projections: string[],
): Promise<void> {
  await runner.waitFor(await store.headPosition(), projections);
}
