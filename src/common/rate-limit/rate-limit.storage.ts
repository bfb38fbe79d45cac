import type { ThrottlerStorage } from "@nestjs/throttler";

/** Same shape as @nestjs/throttler's storage record (timeToExpire in whole seconds). */
export interface RateLimitRecord {
  totalHits: number;
  timeToExpire: number;
  isBlocked: boolean;
  timeToBlockExpire: number;
}

/** @nestjs/throttler's ThrottlerStorage contract, so either side's storages fit the other. */
export interface RateLimitStorage extends ThrottlerStorage {
  increment(
    key: string,
    ttlMs: number,
    limit: number,
    blockDurationMs: number,
    throttlerName: string,
  ): Promise<RateLimitRecord>;
  close?(): Promise<void>;
}

export const RATE_LIMIT_STORAGE = Symbol("RATE_LIMIT_STORAGE");

/** Fixed windows in process memory: one instance, or tests. Idle windows are swept. */
export class InMemoryRateLimitStorage implements RateLimitStorage {
  private readonly windows = new Map<string, { hits: number; expiresAt: number }>();
  private readonly sweeper: ReturnType<typeof setInterval>;

  constructor(private readonly now: () => number = Date.now) {
    this.sweeper = setInterval(() => this.sweep(), 60_000);
    (this.sweeper as { unref?: () => void }).unref?.();
  }

  async increment(key: string, ttlMs: number, limit: number): Promise<RateLimitRecord> {
    const now = this.now();
    let window = this.windows.get(key);
    if (!window || window.expiresAt <= now) {
      window = { hits: 0, expiresAt: now + ttlMs };
      this.windows.set(key, window);
    }
    window.hits++;
    const seconds = Math.max(1, Math.ceil((window.expiresAt - now) / 1000));
    const isBlocked = window.hits > limit;
    return {
      totalHits: window.hits,
      timeToExpire: seconds,
      isBlocked,
      timeToBlockExpire: isBlocked ? seconds : 0,
    };
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.windows.clear();
  }

  private sweep(): void {
    const now = this.now();
    for (const [key, window] of this.windows) if (window.expiresAt <= now) this.windows.delete(key);
  }
}
