import { Inject, Module, type OnApplicationShutdown } from "@nestjs/common";
import { APP_GUARD } from "@nestjs/core";
import { APP_CONFIG, type AppConfig } from "../../config/config.ts";
import { RateLimitGuard } from "./rate-limit.guard.ts";
import {
  InMemoryRateLimitStorage,
  RATE_LIMIT_STORAGE,
  type RateLimitStorage,
} from "./rate-limit.storage.ts";
import { RedisThrottlerStorage } from "./redis-throttler.storage.ts";

/**
 * The global rate-limit guard: RATE_LIMIT_PER_MINUTE per client IP, counters in memory, or in
 * Redis when REDIS_URL is set so several instances share one limit.
 *
 * Why not @nestjs/throttler's guard at runtime: it is CommonJS and require()s the ESM-only
 * @nestjs/common 12, which jest under Deno cannot do (no require(esm) in Deno's node:vm), so
 * the app would not boot in tests. The storage keeps throttler's ThrottlerStorage contract.
 */
@Module({
  providers: [
    {
      provide: RATE_LIMIT_STORAGE,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig): RateLimitStorage =>
        config.redisUrl
          ? new RedisThrottlerStorage(config.redisUrl)
          : new InMemoryRateLimitStorage(),
    },
    { provide: APP_GUARD, useClass: RateLimitGuard },
  ],
})
export class RateLimitModule implements OnApplicationShutdown {
  constructor(@Inject(RATE_LIMIT_STORAGE) private readonly storage: RateLimitStorage) {}

  async onApplicationShutdown(): Promise<void> {
    await this.storage.close?.();
  }
}
