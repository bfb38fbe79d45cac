import type {
  AppendResult,
  EventStore,
  ExpectedRevision,
  NewEvent,
  ReadAllOptions,
  ReadStreamOptions,
  RecordedEvent,
  ScanAllOptions,
  SubscribeOptions,
  Subscription,
} from "./event-store.port.ts";
import type { EventSchemas } from "./event-schemas.ts";
import { scanAll } from "./scan-all.ts";

/**
 * Applies the event schemas (event-schemas.ts) around any adapter: appends record the schema
 * version of types past version 1, and every read returns events in their current shape.
 */
export class UpcastingEventStore implements EventStore {
  constructor(readonly inner: EventStore, private readonly schemas: EventSchemas) {}

  append(
    stream: string,
    events: NewEvent[],
    options?: { expectedRevision?: ExpectedRevision },
  ): Promise<AppendResult> {
    if (this.schemas.isEmpty) return this.inner.append(stream, events, options);
    return this.inner.append(stream, events.map((event) => this.schemas.stamp(event)), options);
  }

  async readStream(stream: string, options?: ReadStreamOptions): Promise<RecordedEvent[]> {
    return this.upcastAll(await this.inner.readStream(stream, options));
  }

  async readAll(options?: ReadAllOptions): Promise<RecordedEvent[]> {
    return this.upcastAll(await this.inner.readAll(options));
  }

  scanAll(options?: ScanAllOptions): AsyncIterable<RecordedEvent[]> {
    const pages = scanAll(this.inner, options);
    if (this.schemas.isEmpty) return pages;
    return this.upcastPages(pages);
  }

  subscribeToAll(options?: SubscribeOptions): Subscription {
    const subscription = this.inner.subscribeToAll(options);
    if (this.schemas.isEmpty) return subscription;
    return new UpcastingSubscription(subscription, this.schemas);
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

  private async *upcastPages(
    pages: AsyncIterable<RecordedEvent[]>,
  ): AsyncGenerator<RecordedEvent[]> {
    for await (const page of pages) yield this.upcastAll(page);
  }

  private upcastAll(events: RecordedEvent[]): RecordedEvent[] {
    if (this.schemas.isEmpty) return events;
    return events.map((event) => this.schemas.upcast(event));
  }
}

class UpcastingSubscription implements Subscription {
  constructor(private readonly inner: Subscription, private readonly schemas: EventSchemas) {}

  async *[Symbol.asyncIterator](): AsyncGenerator<RecordedEvent> {
    for await (const event of this.inner) yield this.schemas.upcast(event);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
