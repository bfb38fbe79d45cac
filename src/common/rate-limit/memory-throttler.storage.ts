import type { ThrottlerStorage } from "@nestjs/throttler";

/** What ThrottlerStorage#increment resolves to (the record type is not exported by name). */
type ThrottlerStorageRecord = Awaited<ReturnType<ThrottlerStorage["increment"]>>;

interface Window {
  hits: number;
  endsAt: number;
}

/**
 * @nestjs/throttler storage in this process's memory, with the Redis storage's semantics: a
 * fixed window per key that starts at its first hit, a count, and a key over its limit blocked
 * until the window ends. O(1) per request: the throttler's own memory storage keeps one expiry
 * per hit and filters them all on every request, which costs milliseconds at high limits.
 */
export class MemoryThrottlerStorage implements ThrottlerStorage {
  private readonly windows = new Map<string, Window>();
  private nextSweepAt = 0;

  constructor(private readonly now: () => number = Date.now) {}

  increment(
    key: string,
    ttl: number,
    limit: number,
    _blockDuration: number,
    _throttlerName: string,
  ): Promise<ThrottlerStorageRecord> {
    const now = this.now();
    if (now >= this.nextSweepAt) this.sweep(now, ttl);
    let window = this.windows.get(key);
    if (!window || window.endsAt <= now) {
      window = { hits: 0, endsAt: now + ttl };
      this.windows.set(key, window);
    }
    window.hits++;
    const seconds = Math.max(1, Math.ceil((window.endsAt - now) / 1000));
    const isBlocked = window.hits > limit;
    return Promise.resolve({
      totalHits: window.hits,
      timeToExpire: seconds,
      isBlocked,
      timeToBlockExpire: isBlocked ? seconds : 0,
    });
  }

  /** Forgets ended windows, at most once per window length, so idle clients cost no memory. */
  private sweep(now: number, ttl: number): void {
    this.nextSweepAt = now + ttl;
    for (const [key, window] of this.windows) {
      if (window.endsAt <= now) this.windows.delete(key);
    }
  }
}
