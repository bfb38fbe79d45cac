import type {
  AppendExpectedRevision,
  EventStoreDBClient,
  JSONType,
  Position,
  ReadPosition,
} from "@eventstore/db-client";
import { esdbClientLibrary } from "./esdb-client.ts";
import {
  type AppendResult,
  type EventStore,
  EventStoreUnavailable,
  type ExpectedRevision,
  type NewEvent,
  type ReadAllOptions,
  type ReadStreamOptions,
  type RecordedEvent,
  type SubscribeOptions,
  type Subscription,
  WrongExpectedVersion,
} from "./event-store.port.ts";
import { matchesFilter } from "./event-filter.ts";
import {
  comparePositions,
  isUserEvent,
  positionOf,
  toRecordedEvent,
} from "./esdb-recorded-event.ts";
import { EsdbSubscription } from "./esdb-subscription.ts";

/**
 * EventStoreDB / KurrentDB adapter.
 *
 * Positions: `position` is the $all commit position. Every write made through gRPC is an
 * implicit transaction, for which EventStoreDB reports commit == prepare for each event, so a
 * single bigint identifies an event in $all and `{ commit: p, prepare: p }` resumes exactly
 * after it. (Events written long ago through legacy TCP explicit transactions may share a
 * commit position; internal resubscription keeps both numbers, so only an external bigint
 * checkpoint that lands inside such a transaction could re-deliver part of it.)
 *
 * System events (`$`-prefixed types or streams) never leave this adapter. Reading a missing
 * stream returns [] rather than throwing, like the SQLite adapter.
 */
export interface EsdbEventStoreOptions {
  /** `esdb://host:2113?tls=false`, `esdb+discover://…` cluster strings, … */
  connectionString: string;
  /** Backoff between resubscription attempts after a subscription fails. */
  resubscribeInitialDelayMs?: number;
  resubscribeMaxDelayMs?: number;
  /**
   * A live subscription that has made no progress for this long while $all moved on is assumed
   * dead (Deno's node:http2 can stall gRPC streams silently) and is resubscribed.
   */
  stalledSubscriptionMs?: number;
  /** Page size for readAll scans. */
  readPageSize?: number;
}

/** Deno's node:http2 mishandles frequent gRPC keepalive pings; ping rarely unless told otherwise. */
const DEFAULT_KEEP_ALIVE_INTERVAL_MS = 600_000;

export class EsdbEventStore implements EventStore {
  private readonly client: EventStoreDBClient;
  private readonly subscriptions = new Set<EsdbSubscription>();
  private readonly readPageSize: number;
  private closed = false;

  constructor(private readonly options: EsdbEventStoreOptions) {
    this.client = esdbClientLibrary().EventStoreDBClient.connectionString(
      withDefaultKeepAlive(options.connectionString),
    );
    this.readPageSize = options.readPageSize ?? 1000;
  }

  async append(
    stream: string,
    events: NewEvent[],
    options?: { expectedRevision?: ExpectedRevision },
  ): Promise<AppendResult> {
    this.assertOpen();
    const expected = options?.expectedRevision ?? "any";
    let nextExpectedRevision: bigint;
    let reportedPosition: Position | undefined;
    try {
      const result = await this.client.appendToStream(
        stream,
        events.map((event) =>
          esdbClientLibrary().jsonEvent({
            id: event.id,
            type: event.type,
            data: (event.data ?? null) as JSONType,
            metadata: (event.metadata ?? {}) as JSONType,
          })
        ),
        { expectedRevision: toEsdbExpectedRevision(expected) },
      );
      nextExpectedRevision = result.nextExpectedRevision;
      reportedPosition = result.position;
    } catch (error) {
      if (error instanceof esdbClientLibrary().WrongExpectedVersionError) {
        const actual = error.actualVersion === esdbClientLibrary().NO_STREAM
          ? -1n
          : BigInt(error.actualVersion);
        throw new WrongExpectedVersion(stream, expected, actual);
      }
      throw mapUnavailable(error);
    }
    // The append reply's position is the write's, not necessarily its last event's; read the
    // last event back so callers can wait for projections to reach exactly this event.
    const position = await this.positionOfRevision(stream, nextExpectedRevision) ??
      reportedPosition?.commit ?? 0n;
    return { nextExpectedRevision, position };
  }

  async readStream(stream: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    this.assertOpen();
    const backwards = options.direction === "backwards";
    const events: RecordedEvent[] = [];
    try {
      const read = this.client.readStream(stream, {
        direction: backwards ? esdbClientLibrary().BACKWARDS : esdbClientLibrary().FORWARDS,
        fromRevision: options.from ??
          (backwards ? esdbClientLibrary().END : esdbClientLibrary().START),
        maxCount: options.maxCount ?? Number.MAX_SAFE_INTEGER,
      });
      for await (const resolved of read) {
        const recorded = toRecordedEvent(resolved);
        if (recorded) events.push(recorded);
      }
    } catch (error) {
      if (error instanceof esdbClientLibrary().StreamNotFoundError) return [];
      throw mapUnavailable(error);
    }
    return events;
  }

  async readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    this.assertOpen();
    const from = options.from ?? 0n;
    const maxCount = options.maxCount ?? Number.POSITIVE_INFINITY;
    const events: RecordedEvent[] = [];
    // readAll's fromPosition is inclusive; skip the event at the checkpoint itself.
    let cursor: ReadPosition = from > 0n
      ? { commit: from, prepare: from }
      : esdbClientLibrary().START;
    let lastSeen: Position | undefined;
    try {
      while (events.length < maxCount) {
        let pageLength = 0;
        const read = this.client.readAll({
          direction: esdbClientLibrary().FORWARDS,
          fromPosition: cursor,
          maxCount: this.readPageSize,
        });
        for await (const resolved of read) {
          pageLength++;
          const position = resolved.event?.position;
          if (!position) continue;
          if (lastSeen && comparePositions(position, lastSeen) <= 0) continue;
          lastSeen = position;
          if (position.commit <= from) continue;
          const recorded = toRecordedEvent(resolved);
          if (!recorded || !isUserEvent(recorded) || !matchesFilter(recorded, options.filter)) {
            continue;
          }
          events.push(recorded);
          if (events.length >= maxCount) break;
        }
        if (pageLength < this.readPageSize || !lastSeen) break;
        cursor = lastSeen;
      }
    } catch (error) {
      throw mapUnavailable(error);
    }
    return events;
  }

  subscribeToAll(options: SubscribeOptions = {}): Subscription {
    this.assertOpen();
    const subscription = new EsdbSubscription(this.client, options, {
      initialDelayMs: this.options.resubscribeInitialDelayMs ?? 100,
      maxDelayMs: this.options.resubscribeMaxDelayMs ?? 5000,
      stalledMs: this.options.stalledSubscriptionMs ?? 30_000,
      headPosition: () => this.rawHeadPosition(),
      onClose: (closed) => this.subscriptions.delete(closed),
    });
    this.subscriptions.add(subscription);
    return subscription;
  }

  /** The position of the last user (non-system) event, scanning back over system events. */
  async headPosition(): Promise<bigint> {
    this.assertOpen();
    try {
      const read = this.client.readAll({
        direction: esdbClientLibrary().BACKWARDS,
        fromPosition: esdbClientLibrary().END,
        maxCount: this.readPageSize,
      });
      for await (const resolved of read) {
        const recorded = toRecordedEvent(resolved);
        if (recorded && isUserEvent(recorded)) {
          await read.cancel().catch(() => undefined);
          return recorded.position;
        }
      }
    } catch (error) {
      throw mapUnavailable(error);
    }
    return 0n;
  }

  async ping(): Promise<void> {
    this.assertOpen();
    try {
      const read = this.client.readAll({
        direction: esdbClientLibrary().BACKWARDS,
        fromPosition: esdbClientLibrary().END,
        maxCount: 1,
        deadline: 2000,
      });
      for await (const _ of read) break;
    } catch (error) {
      throw mapUnavailable(error);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.subscriptions].map((subscription) => subscription.close()));
    await this.client.dispose();
  }

  /** Commit position of the very last record in $all, system events included. */
  private async rawHeadPosition(): Promise<bigint> {
    const read = this.client.readAll({
      direction: esdbClientLibrary().BACKWARDS,
      fromPosition: esdbClientLibrary().END,
      maxCount: 1,
    });
    for await (const resolved of read) return resolved.event?.position.commit ?? 0n;
    return 0n;
  }

  private async positionOfRevision(stream: string, revision: bigint): Promise<bigint | undefined> {
    if (revision < 0n) return undefined;
    const read = this.client.readStream(stream, {
      direction: esdbClientLibrary().FORWARDS,
      fromRevision: revision,
      maxCount: 1,
    });
    for await (const resolved of read) return positionOf(resolved);
    return undefined;
  }

  private assertOpen(): void {
    if (this.closed) throw new EventStoreUnavailable("event store is closed");
  }
}

function toEsdbExpectedRevision(expected: ExpectedRevision): AppendExpectedRevision {
  switch (expected) {
    case "any":
      return esdbClientLibrary().ANY;
    case "no_stream":
      return esdbClientLibrary().NO_STREAM;
    case "stream_exists":
      return esdbClientLibrary().STREAM_EXISTS;
    default:
      return expected;
  }
}

/** gRPC status codes that mean "could not reach a usable server". */
const UNAVAILABLE_GRPC_CODES = new Set([4, 14]); // DEADLINE_EXCEEDED, UNAVAILABLE

function mapUnavailable(error: unknown): unknown {
  const { type, code } = (error ?? {}) as { type?: string; code?: number };
  // Some client paths surface the typed CommandError, others the raw gRPC ServiceError.
  if (
    type === "unavailable" || type === "deadline-exceeded" || type === "timeout" ||
    (code !== undefined && UNAVAILABLE_GRPC_CODES.has(code))
  ) {
    return new EventStoreUnavailable(`EventStoreDB unavailable: ${(error as Error).message}`, {
      cause: error,
    });
  }
  return error;
}

function withDefaultKeepAlive(connectionString: string): string {
  if (/[?&]keepAliveInterval=/i.test(connectionString)) return connectionString;
  const separator = connectionString.includes("?") ? "&" : "?";
  return `${connectionString}${separator}keepAliveInterval=${DEFAULT_KEEP_ALIVE_INTERVAL_MS}`;
}
