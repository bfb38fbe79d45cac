import type { FastifyInstance, FastifyRequest } from "fastify";
import { randomBase62 } from "./ids.ts";
import { logger } from "./json-logger.ts";
import { metrics } from "./metrics.ts";

const INCOMING_REQUEST_ID = /^[A-Za-z0-9_.:-]{8,128}$/;

/** Fastify's genReqId: adopt a sane incoming x-request-id (as vLLM does), else mint `req_…`. */
export function requestIdFor(request: { headers: Record<string, unknown> }): string {
  const incoming = request.headers["x-request-id"];
  if (typeof incoming === "string" && INCOMING_REQUEST_ID.test(incoming)) return incoming;
  return `req_${randomBase62(24)}`;
}

/** When each request began (performance.now(): unlike hrtime.bigint, no BigInt per request). */
const startedAt = new WeakMap<FastifyRequest, number>();

/** x-request-id on every response, one JSON access-log line and a latency observation each. */
export function registerHttpHooks(fastify: FastifyInstance): void {
  fastify.addHook("onRequest", (request, reply, done) => {
    startedAt.set(request, performance.now());
    reply.header("x-request-id", request.id);
    done();
  });
  fastify.addHook("onResponse", (request, reply, done) => {
    const start = startedAt.get(request);
    const seconds = start === undefined ? 0 : (performance.now() - start) / 1000;
    recordResponse(request, reply.statusCode, seconds);
    done();
  });
}

/**
 * The access-log line and latency observation of one response. Also called for the router's
 * own refusals (common/http-edge.ts), which no hook sees.
 */
export function recordResponse(
  request: Pick<FastifyRequest, "id" | "method" | "routeOptions">,
  status: number,
  seconds: number,
): void {
  const route = request.routeOptions?.url ?? "unmatched";
  metrics.httpRequestDuration.observe(
    { method: request.method, route, status: String(status) },
    seconds,
  );
  logger.write("info", "request", {
    requestId: request.id,
    method: request.method,
    route,
    status,
    ms: Math.round(seconds * 1e4) / 10,
  });
}
