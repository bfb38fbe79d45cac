import type { EventStore, RecordedEvent } from "../event-store/event-store.port.ts";
import {
  accountOf,
  businessTime,
  CausationIndex,
  type Cause,
  type CauseLink,
} from "./causation.ts";

/** The streams whose events can touch an account (auth, money, work, pods, realtime). */
export const ACCOUNT_STREAM_PREFIXES = [
  "account-",
  "ledger-",
  "session-",
  "job-",
  "deployment-",
  "inference-",
  "realtime-",
];

export interface TimelineEntry {
  position: number;
  stream: string;
  type: string;
  at: string;
  actor: string | null;
  cause: Cause;
  links: CauseLink[];
}

export interface TimelinePage {
  entries: TimelineEntry[];
  /** Events read from the store to fill this page. */
  scanned: number;
  /** Exclusive cursor for the next page; null when the scan reached the head. */
  nextAfter: bigint | null;
}

export interface TimelineOptions {
  /** Exclusive position cursor. */
  after?: bigint;
  /** Most entries returned. */
  limit?: number;
  /**
   * Most events read from the store for one page. Bounds an admin request on a large store: a
   * page may come back short with a cursor, and the caller asks again from there.
   */
  maxScanned?: number;
  pageSize?: number;
  onProgress?: (position: bigint) => void;
}

/**
 * Every event that touched one account (its metadata or data names it), oldest first, each
 * with its cause and links. Reads only the event store (`$all` filtered to the account-related
 * stream categories), so it works on the embedded store and EventStoreDB alike.
 *
 * A link's `position` is filled when this page's scan saw the linked event; a hold from an
 * earlier page keeps its id and a null position.
 */
export async function accountTimeline(
  store: EventStore,
  accountId: string,
  options: TimelineOptions = {},
): Promise<TimelinePage> {
  const limit = options.limit ?? Number.MAX_SAFE_INTEGER;
  const maxScanned = options.maxScanned ?? Number.MAX_SAFE_INTEGER;
  const pageSize = options.pageSize ?? 5_000;
  const index = new CausationIndex();
  const entries: TimelineEntry[] = [];
  let after = options.after ?? 0n;
  let scanned = 0;
  for (;;) {
    const page = await store.readAll({
      from: after,
      maxCount: Math.min(pageSize, maxScanned - scanned),
      filter: { streamPrefixes: ACCOUNT_STREAM_PREFIXES },
    });
    if (page.length === 0) return { entries, scanned, nextAfter: null };
    for (const event of page) {
      scanned++;
      after = event.position;
      if (accountOf(event) !== accountId) continue;
      entries.push(entryOf(event, index));
      if (entries.length >= limit) return { entries, scanned, nextAfter: after };
    }
    options.onProgress?.(after);
    if (scanned >= maxScanned) return { entries, scanned, nextAfter: after };
  }
}

function entryOf(event: RecordedEvent, index: CausationIndex): TimelineEntry {
  const { cause, links } = index.explain(event);
  const actor = event.metadata?.actor;
  return {
    position: Number(event.position),
    stream: event.stream,
    type: event.type,
    at: businessTime(event),
    actor: typeof actor === "string" ? actor : null,
    cause,
    links,
  };
}
