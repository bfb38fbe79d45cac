import type { EventStore, RecordedEvent, ScanAllOptions } from "./event-store.port.ts";

const READ_ALL_PAGE_SIZE = 5_000;

/**
 * $all page by page for a whole-history pass: the store's own bulk scan when it has one (the
 * embedded store, and the decorators around any store), readAll paging otherwise (EventStoreDB).
 * Either way the same events in the same order, `from` exclusive and `to` inclusive.
 */
export function scanAll(
  store: EventStore,
  options: ScanAllOptions = {},
): AsyncIterable<RecordedEvent[]> {
  return store.scanAll ? store.scanAll(options) : pageThroughReadAll(store, options);
}

/** The fallback: readAll pages, cut at `to`. */
async function* pageThroughReadAll(
  store: EventStore,
  options: ScanAllOptions,
): AsyncGenerator<RecordedEvent[]> {
  const pageSize = options.pageSize ?? READ_ALL_PAGE_SIZE;
  let after = options.from ?? 0n;
  for (;;) {
    const page = await store.readAll({ from: after, maxCount: pageSize, filter: options.filter });
    if (page.length === 0) return;
    const last = page[page.length - 1].position;
    if (options.to !== undefined && last > options.to) {
      const bounded = page.filter((event) => event.position <= options.to!);
      if (bounded.length > 0) yield bounded;
      return;
    }
    yield page;
    if (page.length < pageSize) return;
    after = last;
  }
}
