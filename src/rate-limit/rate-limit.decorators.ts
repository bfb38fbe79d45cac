import { type ExecutionContext, SetMetadata } from "@nestjs/common";
import type { Reflector } from "@nestjs/core";
import { SkipThrottle } from "@nestjs/throttler";

export const RATE_LIMIT_GROUP = "modelpilot:rate-limit-group";

export interface RateLimitGroup {
  /** Routes of one group share one counter per client IP. */
  group: string;
  /** Requests per minute, or a function of the default (RATE_LIMIT_PER_MINUTE). */
  perMinute: number | ((defaultPerMinute: number) => number);
}

/**
 * Gives a controller or handler its own per-IP budget instead of the default one, e.g.
 * `@RateLimit("auth", (n) => Math.floor(n / 10))`. The throttler's "default" throttler reads it
 * (rate-limit.module.ts): @Throttle's per-route limit cannot be a function of the configured one.
 */
export function RateLimit(
  group: string,
  perMinute: RateLimitGroup["perMinute"],
): ClassDecorator & MethodDecorator {
  return SetMetadata(RATE_LIMIT_GROUP, { group, perMinute } satisfies RateLimitGroup);
}

/** Never rate limited (health checks, metrics scrapes). */
export function SkipRateLimit(): ClassDecorator & MethodDecorator {
  return SkipThrottle() as ClassDecorator & MethodDecorator;
}

/** Each route's group by handler, then controller: metadata never changes once the app is built. */
const groupsByRoute = new WeakMap<object, Map<object, RateLimitGroup | undefined>>();

/**
 * The route's group (handler over controller), or none for the default budget. The limiter asks
 * twice per request (limit and key), so the answer is looked up once per route.
 */
export function rateLimitGroupOf(
  reflector: Reflector,
  context: ExecutionContext,
): RateLimitGroup | undefined {
  const handler = context.getHandler();
  const controller = context.getClass();
  let byController = groupsByRoute.get(handler);
  if (!byController) groupsByRoute.set(handler, byController = new Map());
  if (!byController.has(controller)) {
    byController.set(
      controller,
      reflector.getAllAndOverride<RateLimitGroup | undefined>(RATE_LIMIT_GROUP, [
        handler,
        controller,
      ]),
    );
  }
  return byController.get(controller);
}

/** Requests per minute for a route: its group's budget, else the default. At least 1. */
export function rateLimitFor(group: RateLimitGroup | undefined, defaultPerMinute: number): number {
  if (!group) return defaultPerMinute;
  const value = typeof group.perMinute === "function"
    ? group.perMinute(defaultPerMinute)
    : group.perMinute;
  return Math.max(1, Math.floor(value));
}
