import { Redis } from "ioredis";
import type { RateLimitRecord, RateLimitStorage } from "./rate-limit.storage.ts";

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
 * Rate-limit counters in Redis, so every instance pointing at the same REDIS_URL shares one
 * limit. One atomic Lua script per request.
 */
export class RedisThrottlerStorage implements RateLimitStorage {
  private readonly redis: Redis;

  constructor(url: string, private readonly keyPrefix = "modelpilot:ratelimit:") {
    this.redis = new Redis(url, { maxRetriesPerRequest: 1, connectTimeout: 2_000 });
    this.redis.defineCommand("modelpilotIncrement", { numberOfKeys: 1, lua: INCREMENT_SCRIPT });
  }

  async increment(
    key: string,
    ttl: number,
    limit: number,
    _blockDuration: number,
    _throttlerName: string,
  ): Promise<RateLimitRecord> {
    const [count, pttl] = await (this.redis as unknown as {
      modelpilotIncrement(key: string, ttl: number): Promise<[number, number]>;
    }).modelpilotIncrement(this.keyPrefix + key, ttl);
    const seconds = Math.max(1, Math.ceil(Number(pttl) / 1000));
    const isBlocked = Number(count) > limit;
    return {
      totalHits: Number(count),
      timeToExpire: seconds,
      isBlocked,
      timeToBlockExpire: isBlocked ? seconds : 0,
    };
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
