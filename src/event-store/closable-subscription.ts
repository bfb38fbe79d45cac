import type { RecordedEvent, SubscribeOptions, Subscription } from "./event-store.port.ts";

/**
 * What every adapter's subscription shares: one iterator over `run()`, closed once, by `close()`
 * or by the caller's AbortSignal. Adapters write `run()` and what closing releases.
 */
export abstract class ClosableSubscription implements Subscription {
  protected closed = false;
  private readonly iterator: AsyncGenerator<RecordedEvent>;
  private readonly removeAbortListener: () => void;

  constructor(protected readonly options: SubscribeOptions) {
    // A generator's body runs at its first next(), after the subclass has initialised itself.
    this.iterator = this.run();
    this.removeAbortListener = closeOnAbort(options.signal, () => this.close());
    if (options.signal?.aborted) this.closed = true;
  }

  [Symbol.asyncIterator](): AsyncGenerator<RecordedEvent> {
    return this.iterator;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.removeAbortListener();
    await this.release();
  }

  protected abstract run(): AsyncGenerator<RecordedEvent>;

  /** Frees what the subscription holds once it is closed (a stream, a wake-up, a registration). */
  protected abstract release(): Promise<void> | void;
}

/** Ends a subscription when its AbortSignal fires; returns the function that unhooks it. */
function closeOnAbort(signal: AbortSignal | undefined, close: () => unknown): () => void {
  if (!signal) return () => {};
  const onAbort = () => void close();
  signal.addEventListener("abort", onAbort, { once: true });
  return () => signal.removeEventListener("abort", onAbort);
}
