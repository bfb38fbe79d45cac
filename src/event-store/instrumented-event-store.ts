import { metrics } from "../common/metrics.ts";
import {
  type AppendResult,
  type EventStore,
  type ExpectedRevision,
  type NewEvent,
  type ReadAllOptions,
  type ReadStreamOptions,
  type RecordedEvent,
  type ScanAllOptions,
  type SubscribeOptions,
  type Subscription,
  WrongExpectedVersion,
} from "./event-store.port.ts";
import { findEventTypeTail } from "./event-type-tail.ts";
import { scanAll } from "./scan-all.ts";

/** Counts appended events and expected-revision conflicts for /metrics, whatever the adapter. */
export class InstrumentedEventStore implements EventStore {
  constructor(readonly inner: EventStore) {}

  async append(
    stream: string,
    events: NewEvent[],
    options?: { expectedRevision?: ExpectedRevision },
  ): Promise<AppendResult> {
    try {
      const result = await this.inner.append(stream, events, options);
      metrics.eventsAppended.inc({}, events.length);
      return result;
    } catch (error) {
      if (error instanceof WrongExpectedVersion) metrics.appendFailures.inc();
      throw error;
    }
  }

  readStream(stream: string, options?: ReadStreamOptions): Promise<RecordedEvent[]> {
    return this.inner.readStream(stream, options);
  }

  readAll(options?: ReadAllOptions): Promise<RecordedEvent[]> {
    return this.inner.readAll(options);
  }

  scanAll(options?: ScanAllOptions): AsyncIterable<RecordedEvent[]> {
    return scanAll(this.inner, options);
  }

  subscribeToAll(options?: SubscribeOptions): Subscription {
    return this.inner.subscribeToAll(options);
  }

  headPosition(): Promise<bigint> {
    return this.inner.headPosition();
  }

  ping(): Promise<void> {
    return this.inner.ping();
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  /** The embedded store's per-event-type tail (see ProjectionRunner.untilCurrent), when it has one. */
  get lastPositionOf(): ((types: Iterable<string>) => bigint) | undefined {
    return findEventTypeTail(this.inner)?.lastPositionOf;
  }
}
