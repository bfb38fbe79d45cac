import type { EventFilter, RecordedEvent } from "../event-store/event-store.port.ts";

/**
 * matchesFilter (event-filter.ts) compiled once per projection, the types in a Set: a rebuild
 * asks it for every event and every projection.
 */
export function compileFilter(filter: EventFilter | undefined): (event: RecordedEvent) => boolean {
  const prefixes = filter?.streamPrefixes?.length ? filter.streamPrefixes : undefined;
  const types = filter?.eventTypes?.length ? new Set(filter.eventTypes) : undefined;
  return (event) => {
    if (types && !types.has(event.type)) return false;
    if (!prefixes) return true;
    for (const prefix of prefixes) if (event.stream.startsWith(prefix)) return true;
    return false;
  };
}
