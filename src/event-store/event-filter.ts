import type { EventFilter, ExpectedRevision, RecordedEvent } from "./event-store.port.ts";

/** Whether a stream whose last revision is `current` (-1n: no stream) satisfies `expected`. */
export function revisionMatches(expected: ExpectedRevision, current: bigint): boolean {
  switch (expected) {
    case "any":
      return true;
    case "no_stream":
      return current === -1n;
    case "stream_exists":
      return current >= 0n;
    default:
      return current === expected;
  }
}

/** Client-side form of an EventFilter: stream prefixes AND event types, each optional. */
export function matchesFilter(
  event: Pick<RecordedEvent, "stream" | "type">,
  filter?: EventFilter,
): boolean {
  if (!filter) return true;
  const prefixes = filter.streamPrefixes;
  if (
    prefixes && prefixes.length > 0 && !prefixes.some((prefix) => event.stream.startsWith(prefix))
  ) {
    return false;
  }
  const types = filter.eventTypes;
  if (types && types.length > 0 && !types.includes(event.type)) return false;
  return true;
}
