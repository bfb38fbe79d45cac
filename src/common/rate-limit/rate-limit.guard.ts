import { type CanActivate, type ExecutionContext, Inject, Injectable } from "@nestjs/common";
import { Reflector } from "@nestjs/core";
import type { FastifyReply, FastifyRequest } from "fastify";
import { APP_CONFIG, type AppConfig } from "../../config/config.ts";
import { ApiError } from "../api-error.ts";
import { logger } from "../json-logger.ts";
import { RATE_LIMIT_GROUP, type RateLimitGroup, SKIP_RATE_LIMIT } from "./rate-limit.decorators.ts";
import { RATE_LIMIT_STORAGE, type RateLimitStorage } from "./rate-limit.storage.ts";

const WINDOW_MS = 60_000;

/**
 * The global rate limit: one counter per client IP (req.ip; Fastify's trustProxy decides
 * whether X-Forwarded-For counts) and route group, RATE_LIMIT_PER_MINUTE by default. Every
 * limited response carries OpenAI's x-ratelimit-* headers; going over gives a 429 envelope
 * with Retry-After in whole seconds.
 */
@Injectable()
export class RateLimitGuard implements CanActivate {
  private storageWarnedAt = 0;

  constructor(
    @Inject(RATE_LIMIT_STORAGE) private readonly storage: RateLimitStorage,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(Reflector) private readonly reflector: Reflector,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== "http") return true;
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(SKIP_RATE_LIMIT, targets)) return true;
    const group = this.reflector.getAllAndOverride<RateLimitGroup | undefined>(
      RATE_LIMIT_GROUP,
      targets,
    );
    const limit = limitFor(group, this.config.rateLimitPerMinute);
    const http = context.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();
    const key = `${group?.group ?? "default"}:${request.ip}`;
    let record;
    try {
      record = await this.storage.increment(key, WINDOW_MS, limit, WINDOW_MS, "default");
    } catch (error) {
      // Fail open: a Redis outage must not take the whole API down with it.
      if (Date.now() - this.storageWarnedAt > 10_000) {
        this.storageWarnedAt = Date.now();
        logger.write("warn", "rate-limit storage unavailable; not limiting", {
          error: (error as Error).message,
        });
      }
      return true;
    }
    const resetSeconds = Math.max(
      1,
      record.isBlocked ? record.timeToBlockExpire : record.timeToExpire,
    );
    const headers = {
      "x-ratelimit-limit-requests": String(limit),
      "x-ratelimit-remaining-requests": String(Math.max(0, limit - record.totalHits)),
      "x-ratelimit-reset-requests": formatDuration(resetSeconds),
    };
    for (const [name, value] of Object.entries(headers)) reply.header(name, value);
    if (record.isBlocked) {
      throw new ApiError(
        429,
        `Rate limit reached: ${limit} requests per minute. Please try again in ${resetSeconds}s.`,
        {
          type: "rate_limit_error",
          code: "rate_limit_exceeded",
          headers: { ...headers, "retry-after": String(resetSeconds) },
        },
      );
    }
    return true;
  }
}

function limitFor(group: RateLimitGroup | undefined, perMinute: number): number {
  if (!group) return perMinute;
  const value = typeof group.perMinute === "function"
    ? group.perMinute(perMinute)
    : group.perMinute;
  return Math.max(1, Math.floor(value));
}

/** OpenAI's reset format: `20s`, `1m0s`. */
export function formatDuration(seconds: number): string {
  const minutes = Math.floor(seconds / 60);
  return minutes > 0 ? `${minutes}m${seconds % 60}s` : `${seconds}s`;
}
