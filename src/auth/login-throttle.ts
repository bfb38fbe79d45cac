import { Inject, Injectable } from "@nestjs/common";
import { getStorageToken } from "@nestjs/throttler";
import { ApiError } from "../common/api-error.ts";
import type { BackoffPolicy } from "../rate-limit/backoff.ts";
import type { RateLimitStorage } from "../rate-limit/rate-limit.storage.ts";
import { APP_CONFIG, type AppConfig } from "../config/config.ts";
import { emailHash } from "./secrets.ts";

/** The longest wait between attempts once delays have grown. */
export const LOGIN_MAX_DELAY_MS = 15 * 60_000;

/**
 * Growing delays per login email, whatever address the guesses come from: after
 * LOGIN_FAILURES_BEFORE_DELAY failures each next attempt waits 1 s, 2 s, 4 s … up to 15 min
 * after the previous one; a successful login resets the email. Every attempt is counted when it
 * starts (a success forgets it), so parallel guesses cannot all pass before the first failure
 * is recorded. Keys are hashes of the normalised email: bounded in size, and no addresses kept
 * in Redis or memory. Shared through Redis when REDIS_URL is set (in memory while it is down).
 */
@Injectable()
export class LoginThrottle {
  private readonly policy: BackoffPolicy;

  constructor(
    @Inject(getStorageToken()) private readonly storage: RateLimitStorage,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.policy = {
      freeAttempts: config.loginFailuresBeforeDelay,
      baseDelayMs: 1_000,
      maxDelayMs: LOGIN_MAX_DELAY_MS,
      forgetAfterMs: 3600_000,
    };
  }

  /** Counts an attempt for the (normalised) email, or refuses it with 429 login_throttled. */
  async claim(normalisedEmail: string): Promise<void> {
    const waitMs = await this.storage.claimAttempt(keyFor(normalisedEmail), this.policy);
    if (waitMs <= 0) return;
    const seconds = Math.max(1, Math.ceil(waitMs / 1000));
    throw new ApiError(
      429,
      `Too many failed logins for this email. Please try again in ${seconds}s.`,
      {
        type: "rate_limit_error",
        code: "login_throttled",
        param: "email",
        headers: { "retry-after": String(seconds) },
      },
    );
  }

  async succeeded(normalisedEmail: string): Promise<void> {
    await this.storage.forgetAttempts(keyFor(normalisedEmail));
  }
}

function keyFor(normalisedEmail: string): string {
  return `login:${emailHash(normalisedEmail)}`;
}
