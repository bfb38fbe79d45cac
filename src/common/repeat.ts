/** A repeating background task that never keeps the process alive; `stop()` ends it. */
export interface Repeating {
  stop(): void;
}

export function repeatEvery(intervalMs: number, task: () => void): Repeating {
  // Deno's and Node's timer typings disagree on the handle's type; it stays opaque here.
  const handle: unknown = setInterval(task, intervalMs);
  (handle as { unref?: () => void }).unref?.();
  return { stop: () => clearInterval(handle as number) };
}

/**
 * A background sweep: once at start (what a restart left behind), then every `intervalMs`. One
 * sweep runs at a time (a call during a sweep joins it), and `stop()` waits for the one in
 * progress, so it finishes before the event store closes.
 */
export class PeriodicSweep<Result> {
  private timer?: Repeating;
  private running?: Promise<Result>;

  constructor(
    private readonly intervalMs: number,
    private readonly sweepOnce: () => Promise<Result>,
    private readonly onFailure: (error: unknown) => void,
  ) {}

  /** `firstSweepNow: false` leaves the first sweep to the first interval (no start-up sweep). */
  start(options: { firstSweepNow?: boolean } = {}): void {
    // Not awaited: read models may still be catching up, and start must not wait for them.
    if (options.firstSweepNow !== false) void this.run().catch(this.onFailure);
    this.timer = repeatEvery(this.intervalMs, () => void this.run().catch(this.onFailure));
  }

  run(): Promise<Result> {
    this.running ??= this.sweepOnce().finally(() => (this.running = undefined));
    return this.running;
  }

  async stop(): Promise<void> {
    this.timer?.stop();
    await this.running?.catch(() => undefined);
  }
}
