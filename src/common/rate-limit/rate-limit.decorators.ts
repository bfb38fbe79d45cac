import { SetMetadata } from "@nestjs/common";

export const RATE_LIMIT_GROUP = "modelpilot:rate-limit-group";
export const SKIP_RATE_LIMIT = "modelpilot:skip-rate-limit";

export interface RateLimitGroup {
  /** Routes of one group share one counter per client IP. */
  group: string;
  /** Requests per minute, or a function of the default (RATE_LIMIT_PER_MINUTE). */
  perMinute: number | ((defaultPerMinute: number) => number);
}

/**
 * Gives a controller or handler its own per-IP budget instead of the default one, e.g.
 * `@RateLimit("auth", (n) => Math.floor(n / 10))`.
 */
export function RateLimit(
  group: string,
  perMinute: RateLimitGroup["perMinute"],
): ClassDecorator & MethodDecorator {
  return SetMetadata(RATE_LIMIT_GROUP, { group, perMinute } satisfies RateLimitGroup);
}

/** Never rate limited (health checks, metrics scrapes). */
export function SkipRateLimit(): ClassDecorator & MethodDecorator {
  return SetMetadata(SKIP_RATE_LIMIT, true);
}
