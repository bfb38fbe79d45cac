import type { EventStore, RecordedEvent, ScanAllOptions } from "../event-store/event-store.port.ts";
import { scanAll } from "../event-store/scan-all.ts";

/**
 * Streams $all page by page (positions `from` exclusive to `to` inclusive) into `onPage`, so a
 * command never holds the whole history. Pages come from the store's bulk scan (scan-all.ts);
 * their events are read-only views.
 */
export async function forEachPage(
  store: EventStore,
  options: ScanAllOptions,
  onPage: (page: RecordedEvent[]) => void | Promise<void>,
): Promise<void> {
  for await (const page of scanAll(store, options)) await onPage(page);
}
