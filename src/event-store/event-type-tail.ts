import type { DatabaseSync, StatementSync } from "node:sqlite";
import type { EventStore } from "./event-store.port.ts";
import type { AppendOutcome } from "./sqlite-append-writer.ts";

/**
 * A store's cheap "last position of these event types": a reader that has applied everything
 * up to it has seen every such event. Only the embedded store has one; the projection runner
 * answers freshness checks with the head of any other store.
 */
export interface EventTypeTail {
  lastPositionOf(types: Iterable<string>): bigint;
}

/**
 * The tail of `store` or of the store it decorates: decorators (InstrumentedEventStore,
 * UpcastingEventStore) expose the store they wrap as `inner`.
 */
export function findEventTypeTail(store: EventStore): EventTypeTail | undefined {
  for (let current: unknown = store; current;) {
    const candidate = current as Partial<EventTypeTail> & { inner?: unknown };
    if (typeof candidate.lastPositionOf === "function") {
      const lastPositionOf = candidate.lastPositionOf.bind(candidate);
      return { lastPositionOf };
    }
    current = candidate.inner;
  }
  return undefined;
}

/** Most new events the tail looks at one by one; past that it answers the head. */
const TAIL_PAGE = 1000;

/**
 * The embedded store's tail: the last position of each event type appended since this instance
 * opened, so a freshness check that cares about a few types need not wait for unrelated events.
 */
export class SqliteEventTypeTail implements EventTypeTail {
  /** Every event up to here has had its type noted (or lies at or before tailBaseline). */
  private tailPosition: bigint;
  /** Types of events up to here are unknown: any of them may be of any type. */
  private tailBaseline: bigint;
  private readonly lastOfType = new Map<string, bigint>();
  private readonly selectTail: StatementSync;

  constructor(db: DatabaseSync, private readonly headPosition: () => bigint) {
    this.selectTail = db.prepare(
      "SELECT position, type FROM events WHERE position > ? ORDER BY position LIMIT ?",
    );
    this.selectTail.setReadBigInts(true);
    this.tailBaseline = this.tailPosition = headPosition();
  }

  /**
   * A position at or after the last event of any of `types` in the store, appended by this
   * process or any other sharing the file. One indexed head read; the rows appended since the
   * last call are read (position and type only) when the head has moved past what was seen.
   */
  lastPositionOf(types: Iterable<string>): bigint {
    if (this.headPosition() > this.tailPosition) this.readTail();
    let last = this.tailBaseline;
    for (const type of types) {
      const position = this.lastOfType.get(type);
      if (position !== undefined && position > last) last = position;
    }
    return last;
  }

  /**
   * Notes the types of the events a transaction wrote, without reading them back when they
   * directly follow tailPosition (no other process appended in between); else reads the tail.
   */
  noteCommitted(
    appends: ReadonlyArray<{ events: ReadonlyArray<{ type: string }> }>,
    outcomes: AppendOutcome[],
  ): void {
    let expected = this.tailPosition + 1n;
    const written: Array<[bigint, string]> = [];
    for (const [index, append] of appends.entries()) {
      const outcome = outcomes[index];
      if (!outcome.ok || outcome.written === 0) continue;
      let position = outcome.position - BigInt(outcome.written) + 1n;
      if (position !== expected) return this.readTail();
      for (const event of append.events) written.push([position++, event.type]);
      expected = position;
    }
    for (const [position, type] of written) this.lastOfType.set(type, position);
    if (written.length > 0) this.tailPosition = written[written.length - 1][0];
  }

  /** Notes the type of every event after tailPosition; too many to look at: all may matter. */
  private readTail(): void {
    const rows = this.selectTail.all(this.tailPosition, TAIL_PAGE + 1) as unknown as Array<
      { position: bigint; type: string }
    >;
    if (rows.length > TAIL_PAGE) {
      this.tailBaseline = this.tailPosition = this.headPosition();
      this.lastOfType.clear();
      return;
    }
    for (const row of rows) this.lastOfType.set(row.type, row.position);
    if (rows.length > 0) this.tailPosition = rows[rows.length - 1].position;
  }
}
