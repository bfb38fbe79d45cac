import { type BackoffPolicy, type BackoffRecord, decideAttempt } from "./backoff.ts";
import type { RateLimitStorage, ThrottlerStorageRecord } from "./rate-limit.storage.ts";

interface Window {
  hits: number;
  endsAt: number;
}

/** Most counters kept at once; past it the oldest is dropped (about 150 bytes each). */
const DEFAULT_MAX_ENTRIES = 100_000;

/**
 * Rate-limit storage in this process's memory, with the Redis storage's semantics: a fixed
 * window per key that starts at its first hit, a count, and a key over its limit blocked until
 * the window ends. O(1) per request: the throttler's own memory storage keeps one expiry per hit
 * and filters them all on every request, which costs milliseconds at high limits.
 *
 * Both maps are bounded in entries, so a flood of new clients (or emails) cannot grow memory
 * without limit: at the bound the oldest entry goes. Maps iterate in insertion order and a
 * renewed entry is re-inserted, so the first entry is the one least recently started.
 */
export class MemoryThrottlerStorage implements RateLimitStorage {
  private readonly windows = new Map<string, Window>();
  private readonly attempts = new Map<string, BackoffRecord>();
  private nextSweepAt = 0;

  constructor(
    private readonly now: () => number = Date.now,
    private readonly maxEntries = DEFAULT_MAX_ENTRIES,
  ) {}

  /** Counters held now (windows and backoff records), for tests of the bound. */
  get size(): number {
    return this.windows.size + this.attempts.size;
  }

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
      this.windows.delete(key);
      evictOldest(this.windows, this.maxEntries);
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

  claimAttempt(key: string, policy: BackoffPolicy): Promise<number> {
    const decided = decideAttempt(this.attempts.get(key), this.now(), policy);
    if (decided.next) {
      this.attempts.delete(key);
      evictOldest(this.attempts, this.maxEntries);
      this.attempts.set(key, decided.next);
    }
    return Promise.resolve(decided.waitMs);
  }

  forgetAttempts(key: string): Promise<void> {
    this.attempts.delete(key);
    return Promise.resolve();
  }

  /** Forgets ended windows and stale records, at most once per window length. */
  private sweep(now: number, ttl: number): void {
    this.nextSweepAt = now + ttl;
    for (const [key, window] of this.windows) {
      if (window.endsAt <= now) this.windows.delete(key);
    }
    // decideAttempt already ignores a record past its policy's forget time; this frees it.
    for (const [key, record] of this.attempts) {
      if (now - record.lastAttemptAt >= STALE_ATTEMPT_MS) this.attempts.delete(key);
    }
  }
}

/** Backoff records untouched this long are dropped by the sweep (longer than the login policy's). */
const STALE_ATTEMPT_MS = 24 * 3600_000;

function evictOldest<V>(map: Map<string, V>, maxEntries: number): void {
  while (map.size >= maxEntries) {
    const oldest = map.keys().next().value;
    if (oldest === undefined) return;
    map.delete(oldest);
  }
}
