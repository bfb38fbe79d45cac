import { type ExecutionContext, Inject, Injectable } from "@nestjs/common";
import { Reflector } from "@nestjs/core";
import {
  getOptionsToken,
  getStorageToken,
  ThrottlerGuard,
  type ThrottlerLimitDetail,
  type ThrottlerModuleOptions,
  type ThrottlerStorage,
} from "@nestjs/throttler";
import type { FastifyRequest } from "fastify";
import { ApiError } from "../common/api-error.ts";
import { clientTracker } from "./client-address.ts";

/** The throttler's header names (throttler "default", so no suffix) → OpenAI's. */
const OPENAI_HEADERS: Record<string, string> = {
  "X-RateLimit-Limit": "x-ratelimit-limit-requests",
  "X-RateLimit-Remaining": "x-ratelimit-remaining-requests",
  "X-RateLimit-Reset": "x-ratelimit-reset-requests",
  "Retry-After": "retry-after",
};

/**
 * @nestjs/throttler's guard speaking OpenAI: one counter per client (req.ip, an IPv6 /64;
 * Fastify's trustProxy decides which X-Forwarded-For hop is the client), x-ratelimit-* headers
 * on every limited response, and a 429 in the OpenAI envelope with Retry-After in whole
 * seconds. It runs before authentication; per-key and per-account budgets are charged once the
 * caller is known (auth/credential-budgets.ts). The storage never fails open (fallback.storage.ts).
 */
@Injectable()
export class RateLimitGuard extends ThrottlerGuard {
  constructor(
    @Inject(getOptionsToken()) options: ThrottlerModuleOptions,
    @Inject(getStorageToken()) storage: ThrottlerStorage,
    @Inject(Reflector) reflector: Reflector,
  ) {
    super(options, storage, new RouteMetadataCache(reflector));
  }

  override canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== "http") return Promise.resolve(true);
    return super.canActivate(context);
  }

  /** The client address (Fastify's trustProxy decides which hop), IPv6 grouped by /64. */
  protected override getTracker(request: Record<string, any>): Promise<string> {
    return Promise.resolve(clientTracker((request as FastifyRequest).ip));
  }

  protected override setResponseHeader(
    response: Record<string, any>,
    name: string,
    value: string | number,
  ): void {
    const openAiName = OPENAI_HEADERS[name];
    if (!openAiName) return;
    const text = openAiName === "x-ratelimit-reset-requests"
      ? formatDuration(Math.max(1, Number(value)))
      : String(openAiName === "retry-after" ? Math.max(1, Number(value)) : value);
    super.setResponseHeader(response, openAiName, text);
  }

  protected override async throwThrottlingException(
    _context: ExecutionContext,
    detail: ThrottlerLimitDetail,
  ): Promise<void> {
    const seconds = Math.max(1, detail.timeToBlockExpire);
    throw new ApiError(
      429,
      `Rate limit reached: ${detail.limit} requests per minute. Please try again in ${seconds}s.`,
      {
        type: "rate_limit_error",
        code: "rate_limit_exceeded",
        headers: {
          "x-ratelimit-limit-requests": String(detail.limit),
          "x-ratelimit-remaining-requests": String(Math.max(0, detail.limit - detail.totalHits)),
          "x-ratelimit-reset-requests": formatDuration(seconds),
          "retry-after": String(seconds),
        },
      },
    );
  }
}

/**
 * The throttler looks six metadata keys up on every request (skip, limit, ttl, block duration,
 * tracker, key generator, each over handler and controller). Route metadata never changes once
 * the app is built, so each answer is kept per key and route after the first lookup.
 */
class RouteMetadataCache extends Reflector {
  private readonly answers = new Map<unknown, WeakMap<object, Map<object, unknown>>>();

  constructor(private readonly reflector: Reflector) {
    super();
  }

  override getAllAndOverride<TResult = any, TKey = any>(
    metadataKey: TKey,
    targets: Parameters<Reflector["getAllAndOverride"]>[1],
  ): TResult {
    if (targets.length !== 2) return this.reflector.getAllAndOverride(metadataKey, targets);
    const [handler, controller] = targets;
    let byHandler = this.answers.get(metadataKey);
    if (!byHandler) this.answers.set(metadataKey, byHandler = new WeakMap());
    let byController = byHandler.get(handler);
    if (!byController) byHandler.set(handler, byController = new Map());
    if (!byController.has(controller)) {
      byController.set(controller, this.reflector.getAllAndOverride(metadataKey, targets));
    }
    return byController.get(controller) as TResult;
  }
}

/** OpenAI's reset format: `20s`, `1m0s`. */
export function formatDuration(seconds: number): string {
  const minutes = Math.floor(seconds / 60);
  return minutes > 0 ? `${minutes}m${seconds % 60}s` : `${seconds}s`;
}
