import "reflect-metadata";
import { NestFactory } from "@nestjs/core";
import { FastifyAdapter, type NestFastifyApplication } from "@nestjs/platform-fastify";
import { AppModule, type AppModuleOptions } from "./app.module.ts";
import { ApiDocsService } from "./api-docs/api-docs.service.ts";
import { boundConnections } from "./common/connection-limits.ts";
import {
  clientErrorHandler,
  frameworkErrorHandler,
  registerEdgeHooks,
} from "./common/http-edge.ts";
import { registerHttpHooks, requestIdFor } from "./common/http-hooks.ts";
import { logger } from "./common/json-logger.ts";
import { OpenAiExceptionFilter } from "./common/openai-exception.filter.ts";
import { createValidationPipe } from "./common/validation.ts";
import type { AppConfig } from "./config/config.ts";
import { readTlsCredentials } from "./config/tls-credentials.ts";

/**
 * Builds the whole application for a validated config. main.ts listens on PORT; tests call
 * this with their own config (temp DATA_DIR, port 0) and listen on 127.0.0.1.
 */
export async function createApp(
  config: AppConfig,
  options: AppModuleOptions = {},
): Promise<NestFastifyApplication> {
  logger.setLevel(config.logLevel);
  // TLS_CERT_FILE/TLS_KEY_FILE: the same server speaks HTTPS for every route (and wss:).
  const tls = readTlsCredentials(config);
  const adapter = new FastifyAdapter({
    ...(tls ? { https: tls } : {}),
    bodyLimit: config.bodyLimitBytes,
    trustProxy: trustProxySetting(config.trustProxy),
    genReqId: requestIdFor,
    logger: false,
    // In-flight requests finish on shutdown; idle keep-alive sockets are closed at once.
    forceCloseConnections: "idle",
    // Requests arriving while closing get a 503 envelope from registerEdgeHooks instead.
    return503OnClosing: false,
    // Errors raised before any hook or filter (router, HTTP parser) leave in the envelope too.
    frameworkErrors: frameworkErrorHandler,
    clientErrorHandler,
  });
  const routes: RouteEntry[] = [];
  adapter.getInstance().addHook("onRoute", (route) => {
    for (const method of [route.method].flat()) routes.push({ method, url: route.url });
  });
  const app = await NestFactory.create<NestFastifyApplication>(
    AppModule.forRoot(config, options),
    adapter,
    { logger, bodyParser: true, abortOnError: false },
  );
  const fastify = app.getHttpAdapter().getInstance();
  routeTables.set(app, routes);
  app.get(ApiDocsService).attach(app);
  registerHttpHooks(fastify);
  registerEdgeHooks(fastify);
  boundConnections(fastify.server, {
    requestTimeoutMs: config.httpRequestTimeoutMs,
    headersTimeoutMs: config.httpHeadersTimeoutMs,
    keepAliveTimeoutMs: config.httpKeepAliveTimeoutMs,
    maxConnections: config.httpMaxConnections,
    writeStallTimeoutMs: config.streamStallTimeoutMs,
  });
  app.useGlobalFilters(new OpenAiExceptionFilter());
  app.useGlobalPipes(createValidationPipe());
  return app;
}

export interface RouteEntry {
  method: string;
  /** Fastify's pattern: `:name` parameters, `*` wildcard. */
  url: string;
}

const routeTables = new WeakMap<object, RouteEntry[]>();

/**
 * Every route the application registered, as Fastify saw it (Nest's controllers and anything
 * added to Fastify directly), so tooling such as the fuzz suite covers a new route unasked.
 */
export function routeTable(app: NestFastifyApplication): readonly RouteEntry[] {
  return routeTables.get(app) ?? [];
}

/**
 * A hop count becomes proxy-addr's own rule for numbers (trust the `hops` nearest hops);
 * Fastify's types only admit the function form.
 */
function trustProxySetting(
  trustProxy: AppConfig["trustProxy"],
): false | string[] | ((address: string, hop: number) => boolean) {
  if (typeof trustProxy !== "number") return trustProxy;
  const hops = trustProxy;
  return (_address, hop) => hop < hops;
}
