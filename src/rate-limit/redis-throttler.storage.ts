import type { OnApplicationShutdown } from "@nestjs/common";
import { Redis } from "ioredis";
import type { BackoffPolicy } from "./backoff.ts";
import type { RateLimitStorage, ThrottlerStorageRecord } from "./rate-limit.storage.ts";

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
 * backoff.ts's decideAttempt in one atomic step, so instances racing on one email cannot both
 * slip through: returns 0 (counted) or the milliseconds still to wait. ARGV: now, freeAttempts,
 * baseDelayMs, maxDelayMs, forgetAfterMs. The key's expiry does the forgetting.
 */
const CLAIM_ATTEMPT_SCRIPT = `
local now = tonumber(ARGV[1])
local free = tonumber(ARGV[2])
local base = tonumber(ARGV[3])
local cap = tonumber(ARGV[4])
local forget = tonumber(ARGV[5])
local attempts = tonumber(redis.call('HGET', KEYS[1], 'attempts') or '0')
local last = tonumber(redis.call('HGET', KEYS[1], 'last') or '0')
local function delay(count)
  if count < free then return 0 end
  return math.min(cap, base * math.pow(2, math.min(count - free, 40)))
end
if attempts > 0 then
  local wait = last + delay(attempts) - now
  if wait > 0 then return math.ceil(wait) end
end
redis.call('HSET', KEYS[1], 'attempts', attempts + 1, 'last', now)
redis.call('PEXPIRE', KEYS[1], delay(attempts + 1) + forget)
return 0
`;

/**
 * Rate-limit storage in Redis, so every instance pointing at the same REDIS_URL shares one
 * limit. One atomic Lua script per request; a window over its limit stays blocked until the
 * window ends (blockDuration is the window). Failures are thrown: FallbackRateLimitStorage
 * then counts in memory instead.
 */
export class RedisThrottlerStorage implements RateLimitStorage, OnApplicationShutdown {
  private readonly redis: Redis;
  /** After a failure, skip Redis for a moment so an outage costs one timeout, not one per request. */
  private unavailableUntil = 0;
  private closed = false;

  constructor(url: string, private readonly keyPrefix = "modelpilot:ratelimit:") {
    // A limiter must never hold requests hostage: every command gives up after 250 ms (the
    // in-memory fallback then counts) instead of waiting on reconnects.
    this.redis = new Redis(url, {
      maxRetriesPerRequest: 0,
      connectTimeout: 2_000,
      commandTimeout: 250,
    });
    // Without a listener ioredis prints raw "Unhandled error event" lines; the fallback storage
    // already logs the failures it sees, rate limited.
    this.redis.on("error", () => {});
    this.redis.defineCommand("modelpilotIncrement", { numberOfKeys: 1, lua: INCREMENT_SCRIPT });
    this.redis.defineCommand("modelpilotClaimAttempt", {
      numberOfKeys: 1,
      lua: CLAIM_ATTEMPT_SCRIPT,
    });
  }

  async increment(
    key: string,
    ttl: number,
    limit: number,
    _blockDuration: number,
    _throttlerName: string,
  ): Promise<ThrottlerStorageRecord> {
    const [count, pttl] = await this.call((redis) =>
      (redis as unknown as {
        modelpilotIncrement(key: string, ttl: number): Promise<[number, number]>;
      }).modelpilotIncrement(this.keyPrefix + key, ttl)
    );
    const seconds = Math.max(1, Math.ceil(Number(pttl) / 1000));
    const isBlocked = Number(count) > limit;
    return {
      totalHits: Number(count),
      timeToExpire: seconds,
      isBlocked,
      timeToBlockExpire: isBlocked ? seconds : 0,
    };
  }

  async claimAttempt(key: string, policy: BackoffPolicy): Promise<number> {
    const wait = await this.call((redis) =>
      (redis as unknown as {
        modelpilotClaimAttempt(key: string, ...args: number[]): Promise<number>;
      }).modelpilotClaimAttempt(
        this.keyPrefix + key,
        Date.now(),
        policy.freeAttempts,
        policy.baseDelayMs,
        policy.maxDelayMs,
        policy.forgetAfterMs,
      )
    );
    return Number(wait);
  }

  async forgetAttempts(key: string): Promise<void> {
    await this.call((redis) => redis.del(this.keyPrefix + key));
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // QUIT only on a live connection: sent while reconnecting it would wait for a server that
    // may never come back, and keep the process alive.
    if (this.redis.status !== "ready") {
      this.redis.disconnect();
      return;
    }
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  private async call<T>(command: (redis: Redis) => Promise<T>): Promise<T> {
    if (Date.now() < this.unavailableUntil) throw new Error("Redis unavailable (backing off)");
    try {
      return await command(this.redis);
    } catch (error) {
      this.unavailableUntil = Date.now() + 2_000;
      throw error;
    }
  }
}
