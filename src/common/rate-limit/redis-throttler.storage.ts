import type { OnApplicationShutdown } from "@nestjs/common";
import type { ThrottlerStorage } from "@nestjs/throttler";
import { Redis } from "ioredis";

/** What ThrottlerStorage#increment resolves to (the record type is not exported by name). */
type ThrottlerStorageRecord = Awaited<ReturnType<ThrottlerStorage["increment"]>>;

/** Fixed window: INCR, set the expiry on the first hit (or a lost one), return count and PTTL. */
const INCREMENT_SCRIPT = `
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if count == 1 or ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
`;

/**
 * @nestjs/throttler storage in Redis, so every instance pointing at the same REDIS_URL shares
 * one limit. One atomic Lua script per request; a window over its limit stays blocked until the
 * window ends (blockDuration is the window).
 */
export class RedisThrottlerStorage implements ThrottlerStorage, OnApplicationShutdown {
  private readonly redis: Redis;
  /** After a failure, skip Redis for a moment so an outage costs one timeout, not one per request. */
  private unavailableUntil = 0;

  constructor(url: string, private readonly keyPrefix = "modelpilot:ratelimit:") {
    // A limiter must never hold requests hostage: every command gives up after 250 ms (the
    // guard then lets the request through with a warning) instead of waiting on reconnects.
    this.redis = new Redis(url, {
      maxRetriesPerRequest: 0,
      connectTimeout: 2_000,
      commandTimeout: 250,
    });
    // Without a listener ioredis prints raw "Unhandled error event" lines; the guard already
    // logs the failures it sees, rate limited.
    this.redis.on("error", () => {});
    this.redis.defineCommand("modelpilotIncrement", { numberOfKeys: 1, lua: INCREMENT_SCRIPT });
  }

  async increment(
    key: string,
    ttl: number,
    limit: number,
    _blockDuration: number,
    _throttlerName: string,
  ): Promise<ThrottlerStorageRecord> {
    if (Date.now() < this.unavailableUntil) throw new Error("Redis unavailable (backing off)");
    let count: number, pttl: number;
    try {
      [count, pttl] = await (this.redis as unknown as {
        modelpilotIncrement(key: string, ttl: number): Promise<[number, number]>;
      }).modelpilotIncrement(this.keyPrefix + key, ttl);
    } catch (error) {
      this.unavailableUntil = Date.now() + 2_000;
      throw error;
    }
    const seconds = Math.max(1, Math.ceil(Number(pttl) / 1000));
    const isBlocked = Number(count) > limit;
    return {
      totalHits: Number(count),
      timeToExpire: seconds,
      isBlocked,
      timeToBlockExpire: isBlocked ? seconds : 0,
    };
  }

  async onApplicationShutdown(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
