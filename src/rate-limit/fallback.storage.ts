import type { OnApplicationShutdown } from "@nestjs/common";
import { logger } from "../common/json-logger.ts";
import type { BackoffPolicy } from "./backoff.ts";
import { MemoryThrottlerStorage } from "./memory-throttler.storage.ts";
import type { RateLimitStorage, ThrottlerStorageRecord } from "./rate-limit.storage.ts";

/**
 * Shared storage (Redis) with this process's memory behind it: when Redis fails, the same
 * counters are kept in memory until it answers again. Limits then hold per instance instead
 * of across instances, but they hold, the login budget included; they never fail open.
 */
export class FallbackRateLimitStorage implements RateLimitStorage, OnApplicationShutdown {
  private warnedAt = 0;

  constructor(
    private readonly primary: RateLimitStorage & Partial<OnApplicationShutdown>,
    private readonly fallback: RateLimitStorage = new MemoryThrottlerStorage(),
  ) {}

  increment(
    key: string,
    ttl: number,
    limit: number,
    blockDuration: number,
    throttlerName: string,
  ): Promise<ThrottlerStorageRecord> {
    return this.either((storage) =>
      storage.increment(key, ttl, limit, blockDuration, throttlerName)
    );
  }

  claimAttempt(key: string, policy: BackoffPolicy): Promise<number> {
    return this.either((storage) => storage.claimAttempt(key, policy));
  }

  forgetAttempts(key: string): Promise<void> {
    // A success forgets the key in both places, so a record counted during an outage goes too.
    return this.either(async (storage) => {
      await this.fallback.forgetAttempts(key);
      if (storage !== this.fallback) await storage.forgetAttempts(key);
    });
  }

  async onApplicationShutdown(signal?: string): Promise<void> {
    await this.primary.onApplicationShutdown?.(signal);
  }

  private async either<T>(operation: (storage: RateLimitStorage) => Promise<T>): Promise<T> {
    try {
      return await operation(this.primary);
    } catch (error) {
      if (Date.now() - this.warnedAt > 10_000) {
        this.warnedAt = Date.now();
        logger.write("warn", "rate-limit storage unavailable; counting in this process", {
          error: (error as Error).message,
        });
      }
      return await operation(this.fallback);
    }
  }
}
