import type { EventFilter, RecordedEvent, SubscribeOptions } from "./event-store.port.ts";
import { ClosableSubscription } from "./closable-subscription.ts";

/** What a subscription reads from the embedded store (SqliteEventStore implements it). */
export interface SubscriptionSource {
  isClosed(): boolean;
  headPositionSync(): bigint;
  /** Events after `from` (exclusive), oldest first. */
  readAllSync(from: bigint, maxCount: number, filter?: EventFilter): RecordedEvent[];
  /** Calls `listener` on every in-process commit; returns the function that unhooks it. */
  onAppend(listener: () => void): () => void;
  forgetSubscription(subscription: SqliteSubscription): void;
  readonly livePollIntervalMs: number;
}

/**
 * Catch-up then live. Pull-based: the consumer's pace sets the read pace. Live delivery wakes on
 * in-process commits immediately and polls the file for commits by other processes.
 */
export class SqliteSubscription extends ClosableSubscription {
  private wake: (() => void) | undefined;

  constructor(
    private readonly store: SubscriptionSource,
    options: SubscribeOptions,
    private readonly pageSize: number,
  ) {
    super(options);
  }

  protected release(): void {
    this.store.forgetSubscription(this);
    this.wake?.();
  }

  protected async *run(): AsyncGenerator<RecordedEvent> {
    // `cursor` is how far the store has been examined; with a filter it may pass the last
    // delivered event, which spares re-scanning filtered-out events on every poll.
    let cursor = this.options.from ?? 0n;
    try {
      while (!this.isDone()) {
        const head = this.store.headPositionSync();
        if (head > cursor) {
          const page = this.store.readAllSync(cursor, this.pageSize, this.options.filter);
          for (const event of page) {
            if (this.isDone()) return;
            cursor = event.position;
            yield event;
          }
          // A short page saw everything committed up to `head` (positions commit in order).
          if (page.length < this.pageSize && head > cursor) cursor = head;
          if (page.length === this.pageSize) continue;
        }
        await this.waitForAppends();
      }
    } finally {
      await this.close();
    }
  }

  private isDone(): boolean {
    return this.closed || this.store.isClosed();
  }

  private waitForAppends(): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        unsubscribe();
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, this.store.livePollIntervalMs);
      const unsubscribe = this.store.onAppend(done);
      this.wake = done;
    });
  }
}
