import { Module } from "@nestjs/common";
import { APP_GUARD, Reflector } from "@nestjs/core";
import { ThrottlerModule, type ThrottlerModuleOptions } from "@nestjs/throttler";
import { APP_CONFIG, type AppConfig } from "../config/config.ts";
import { rateLimitFor, rateLimitGroupOf } from "./rate-limit.decorators.ts";
import { FallbackRateLimitStorage } from "./fallback.storage.ts";
import { MemoryThrottlerStorage } from "./memory-throttler.storage.ts";
import { RateLimitGuard } from "./rate-limit.guard.ts";

const WINDOW_MS = 60_000;

/**
 * The global rate limit on @nestjs/throttler: RATE_LIMIT_PER_MINUTE per client IP (IPv6 /64)
 * and route group (@RateLimit), fixed-window counters in this process's memory, or in Redis
 * when REDIS_URL is set so several instances share one limit (in memory while Redis is down).
 * The same storage holds the per-key, per-account and per-email login counters (auth module).
 * Nest closes the Redis storage on shutdown (the storage provider's onApplicationShutdown).
 */
@Module({
  imports: [
    ThrottlerModule.forRootAsync({
      inject: [APP_CONFIG, Reflector],
      useFactory: async (
        config: AppConfig,
        reflector: Reflector,
      ): Promise<ThrottlerModuleOptions> => ({
        throttlers: [{
          name: "default",
          ttl: WINDOW_MS,
          limit: (context) =>
            rateLimitFor(rateLimitGroupOf(reflector, context), config.rateLimitPerMinute),
          // One counter per group and client, shared by the group's routes (readable in Redis).
          generateKey: (context, tracker, name) =>
            `${rateLimitGroupOf(reflector, context)?.group ?? name}:${tracker}`,
        }],
        // The Redis client (ioredis, ~12 MB) loads only when REDIS_URL asks for it.
        storage: config.redisUrl
          ? new FallbackRateLimitStorage(
            new (await import("./redis-throttler.storage.ts")).RedisThrottlerStorage(
              config.redisUrl,
            ),
          )
          : new MemoryThrottlerStorage(),
      }),
    }),
  ],
  providers: [{ provide: APP_GUARD, useClass: RateLimitGuard }],
  // The throttler's storage (getStorageToken()), for the auth module's login and key budgets.
  exports: [ThrottlerModule],
})
export class RateLimitModule {}
