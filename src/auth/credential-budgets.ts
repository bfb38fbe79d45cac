import { Inject, Injectable } from "@nestjs/common";
import { getStorageToken } from "@nestjs/throttler";
import { ApiError } from "../common/api-error.ts";
import type { RateLimitStorage } from "../rate-limit/rate-limit.storage.ts";
import { formatDuration } from "../rate-limit/rate-limit.guard.ts";
import { APP_CONFIG, type AppConfig } from "../config/config.ts";
import type { Principal } from "./principal.ts";

const WINDOW_MS = 60_000;

/**
 * Per-credential and per-account request budgets (RATE_LIMIT_PER_KEY_PER_MINUTE,
 * RATE_LIMIT_PER_ACCOUNT_PER_MINUTE), charged once the caller is known: the global limiter runs
 * before authentication and can only count by IP, so a stolen key driven from many addresses,
 * or an account spreading load over many keys, is bounded here. Two O(1) counters in the
 * rate-limit storage per authenticated request.
 */
@Injectable()
export class CredentialBudgets {
  constructor(
    @Inject(getStorageToken()) private readonly storage: RateLimitStorage,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async charge(principal: Principal): Promise<void> {
    const credential = principal.kind === "api_key"
      ? `key:${principal.keyId}`
      : `session:${principal.sessionId}`;
    await this.chargeOne(credential, this.config.rateLimitPerKeyPerMinute, principal.kind);
    await this.chargeOne(
      `account:${principal.accountId}`,
      this.config.rateLimitPerAccountPerMinute,
      "account",
    );
  }

  private async chargeOne(
    key: string,
    limit: number,
    scope: Principal["kind"] | "account",
  ): Promise<void> {
    const record = await this.storage.increment(key, WINDOW_MS, limit, WINDOW_MS, "credential");
    if (!record.isBlocked) return;
    const seconds = Math.max(1, record.timeToBlockExpire);
    const what = scope === "api_key"
      ? "this API key"
      : scope === "session"
      ? "this session"
      : "this account (all its keys and sessions together)";
    throw new ApiError(
      429,
      `Rate limit reached for ${what}: ${limit} requests per minute. Please try again in ${seconds}s.`,
      {
        type: "rate_limit_error",
        code: "rate_limit_exceeded",
        headers: {
          "x-ratelimit-limit-requests": String(limit),
          "x-ratelimit-remaining-requests": "0",
          "x-ratelimit-reset-requests": formatDuration(seconds),
          "retry-after": String(seconds),
        },
      },
    );
  }
}
