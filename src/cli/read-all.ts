import type { EventFilter, EventStore, RecordedEvent } from "../event-store/event-store.port.ts";

/**
 * Streams $all page by page (positions `from` exclusive to `to` inclusive) into `onPage`, so a
 * command never holds the whole history. Pages are what the store hands back; no copies.
 */
export async function forEachPage(
  store: EventStore,
  options: { from?: bigint; to?: bigint; filter?: EventFilter; pageSize?: number },
  onPage: (page: RecordedEvent[]) => void | Promise<void>,
): Promise<void> {
  const pageSize = options.pageSize ?? 5_000;
  let after = options.from ?? 0n;
  for (;;) {
    let page = await store.readAll({ from: after, maxCount: pageSize, filter: options.filter });
    if (page.length === 0) return;
    const last = page[page.length - 1].position;
    if (options.to !== undefined && last > options.to) {
      page = page.filter((event) => event.position <= options.to!);
      if (page.length > 0) await onPage(page);
      return;
    }
    await onPage(page);
    if (page.length < pageSize) return;
    after = last;
  }
}
