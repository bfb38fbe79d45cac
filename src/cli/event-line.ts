import { visibleEventData } from "../auth/hidden-fields.ts";
import type { RecordedEvent } from "../event-store/event-store.port.ts";

/** One event as a JSON line, redacted as the admin API redacts it (events, stream, export). */
export function eventLine(event: RecordedEvent): string {
  return JSON.stringify({
    position: String(event.position),
    stream: event.stream,
    revision: String(event.revision),
    type: event.type,
    id: event.id,
    created_at: event.createdAt.toISOString(),
    data: visibleEventData(event),
    metadata: event.metadata,
  });
}
