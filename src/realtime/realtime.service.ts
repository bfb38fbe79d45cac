import { type BeforeApplicationShutdown, Inject, Injectable } from "@nestjs/common";
import { Buffer } from "node:buffer";
import type { FastifyReply, FastifyRequest } from "fastify";
import WebSocket, { type RawData, WebSocketServer } from "ws";
import { ApiError } from "../common/api-error.ts";
import { CLOCK, type Clock } from "../common/clock.ts";
import { newId } from "../common/ids.ts";
import { logger } from "../common/json-logger.ts";
import type { Principal } from "../auth/principal.ts";
import { LedgerService } from "../billing/ledger.service.ts";
import { APP_CONFIG, type AppConfig } from "../config/config.ts";
import { dialRealtime } from "../deployments/realtime-upstream.ts";
import { AccountConcurrency } from "../inference/account-concurrency.ts";
import { checkUpstreamUrl } from "../security/ssrf-guard.ts";
import { RealtimeBilling } from "./realtime-billing.ts";
import type { RealtimeSessionStarted } from "./realtime.events.ts";
import { RealtimeRelay } from "./realtime-relay.ts";
import { type RealtimeRoute, RealtimeRouter } from "./realtime-router.ts";
import { LiveRealtimeSession } from "./realtime-session.ts";
import { RealtimeSessionHandler } from "./realtime-session.handler.ts";
import { claimUpgrade, pendingUpgrade } from "./realtime-upgrade.ts";

/** Longest `model` a session may name (the OpenAI routes' bound). */
const MAX_MODEL_LENGTH = 256;
/** How long shutdown waits for open sessions to record their end. */
const SHUTDOWN_WAIT_MS = 5_000;

/**
 * `GET /v1/realtime?model=`: everything that can refuse happens before the handshake (route,
 * concurrency slot, credit hold, the upstream dial), so each refusal is an HTTP answer in the
 * OpenAI envelope and appends nothing. Then the session is recorded, the client's socket is
 * upgraded with `realtime` as its protocol, and the relay runs until either side ends it.
 */
@Injectable()
export class RealtimeService implements BeforeApplicationShutdown {
  private readonly server: WebSocketServer;
  private readonly live = new Map<string, { session: LiveRealtimeSession; done: Promise<void> }>();

  constructor(
    @Inject(RealtimeRouter) private readonly router: RealtimeRouter,
    @Inject(RealtimeSessionHandler) private readonly handler: RealtimeSessionHandler,
    @Inject(LedgerService) private readonly ledger: LedgerService,
    @Inject(AccountConcurrency) private readonly concurrency: AccountConcurrency,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.server = new WebSocketServer({
      noServer: true,
      maxPayload: config.realtimeMaxMessageBytes,
      perMessageDeflate: false,
      // `realtime` when offered; the key protocol never reaches here (realtime-upgrade.ts).
      handleProtocols: (offered) => (offered.has("realtime") ? "realtime" : false),
    });
  }

  /** Sessions open on this instance (tests, diagnostics). */
  openSessions(): number {
    return this.live.size;
  }

  isLive(sessionId: string): boolean {
    return this.live.has(sessionId);
  }

  async open(principal: Principal, request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const upgrade = pendingUpgrade(request.raw);
    if (!upgrade) {
      throw new ApiError(426, "This endpoint is a WebSocket: connect with an Upgrade request.", {
        code: "upgrade_required",
        headers: { upgrade: "websocket" },
      });
    }
    checkHandshake(request);
    const model = modelParameter(request.query);
    const route = await this.router.resolve(principal.accountId, model);
    this.concurrency.acquire(principal.accountId);
    let released = false;
    const releaseSlot = () => {
      if (!released) this.concurrency.release(principal.accountId);
      released = true;
    };
    const sessionId = newId("rts", 22);
    const metadata = { actor: principal.actor, requestId: String(request.id) };
    let billing: RealtimeBilling | undefined;
    let upstream: WebSocket | undefined;
    try {
      if (route.pricing) {
        billing = new RealtimeBilling(
          this.ledger,
          principal.accountId,
          sessionId,
          model,
          this.config.realtimeHoldMicros,
          () =>
            new Date(this.clock.now().getTime() + this.config.realtimeMaxSessionS * 1000 + 600_000),
          metadata,
        );
        await billing.start();
      }
      upstream = await this.dial(route);
    } catch (error) {
      releaseSlot();
      upstream?.terminate();
      await billing?.close("realtime_not_opened").catch(() => undefined);
      throw error;
    }
    // Frames the upstream sends before the client is upgraded (session.created) wait here.
    const early: Array<{ data: RawData; isBinary: boolean }> = [];
    const hold = (data: RawData, isBinary: boolean) => early.push({ data, isBinary });
    upstream.on("message", hold);
    upstream.on("error", () => undefined);
    // dialRealtime leaves the socket paused so that no frame is emitted before `hold` listens.
    upstream.resume();

    const started: RealtimeSessionStarted = {
      sessionId,
      accountId: principal.accountId,
      keyId: principal.keyId ?? null,
      requestId: String(request.id),
      instanceId: this.config.instanceId,
      model,
      upstreamModel: route.upstreamModel,
      routeKind: route.kind,
      deploymentId: route.deploymentId,
      pricing: route.pricing,
      holdId: billing ? billing.firstHoldId : null,
      holdMicros: billing ? this.config.realtimeHoldMicros : 0,
      startedAt: this.clock.now().toISOString(),
    };
    const session = new LiveRealtimeSession(started, this.handler, billing, this.clock, metadata);
    try {
      await this.handler.handle(sessionId, { type: "StartSession", session: started }, metadata);
    } catch (error) {
      releaseSlot();
      upstream.terminate();
      await billing?.close("realtime_not_opened").catch(() => undefined);
      throw error;
    }
    const done = this.handshake(request, reply, upstream, early, hold, session)
      .catch((error) =>
        logger.write("warn", "realtime session ended with an error", {
          sessionId,
          error: (error as Error).message,
        })
      )
      .finally(() => {
        releaseSlot();
        this.live.delete(sessionId);
      });
    this.live.set(sessionId, { session, done });
  }

  private async handshake(
    request: FastifyRequest,
    reply: FastifyReply,
    upstream: WebSocket,
    early: Array<{ data: RawData; isBinary: boolean }>,
    hold: (data: RawData, isBinary: boolean) => void,
    session: LiveRealtimeSession,
  ): Promise<void> {
    reply.hijack();
    const { socket, head } = claimUpgrade(request.raw)!;
    const client = await new Promise<WebSocket | undefined>((resolve) => {
      if (socket.destroyed) return resolve(undefined);
      const gone = () => resolve(undefined);
      socket.once("close", gone);
      this.server.handleUpgrade(request.raw, socket as never, head, (ws) => {
        socket.off("close", gone);
        resolve(ws);
      });
    });
    if (!client) {
      upstream.terminate();
      await session.end("client_closed");
      return;
    }
    upstream.off("message", hold);
    const relay = new RealtimeRelay(
      client,
      upstream,
      {
        idleTimeoutMs: this.config.realtimeIdleTimeoutMs,
        maxSessionMs: this.config.realtimeMaxSessionS * 1000,
        bufferHighBytes: this.config.realtimeBufferHighBytes,
      },
      (text) => session.observe(text),
      early,
    );
    // The upstream may have closed while the client was being upgraded.
    if (upstream.readyState === WebSocket.CLOSED) upstream.emit("close", 1006, Buffer.alloc(0));
    await session.run(relay);
  }

  private async dial(route: RealtimeRoute): Promise<WebSocket> {
    let pinned: string[] | undefined;
    if (route.guarded) {
      const httpUrl = route.url.replace(/^ws/, "http");
      pinned = (await checkUpstreamUrl(httpUrl, { allowPrivate: false, param: "model" })).addresses;
    }
    return await dialRealtime(route.url, {
      authorization: route.authorization,
      timeoutMs: this.config.upstreamConnectTimeoutMs,
      maxPayload: this.config.realtimeMaxMessageBytes,
      pinnedAddresses: pinned,
    });
  }

  /** Open sessions are closed (1001) and their ends recorded before the event store closes. */
  async beforeApplicationShutdown(): Promise<void> {
    const waiting = [...this.live.values()].map(({ session, done }) => {
      session.shutdown();
      return done;
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.all(waiting),
      new Promise((resolve) => (timer = setTimeout(resolve, SHUTDOWN_WAIT_MS))),
    ]);
    clearTimeout(timer);
  }
}

function modelParameter(query: unknown): string {
  const model = (query as Record<string, unknown> | undefined)?.model;
  if (model === undefined || model === "") {
    throw ApiError.badRequest(
      "You must provide a model parameter: /v1/realtime?model=NAME.",
      "model",
      "missing_required_parameter",
    );
  }
  if (typeof model !== "string" || model.length > MAX_MODEL_LENGTH) {
    throw ApiError.badRequest(
      `Invalid 'model': a single name of at most ${MAX_MODEL_LENGTH} characters.`,
      "model",
      "invalid_value",
    );
  }
  return model;
}

/** What `ws` would refuse with a bare 400 is refused here in the envelope instead. */
function checkHandshake(request: FastifyRequest): void {
  const headers = request.headers;
  const key = headers["sec-websocket-key"];
  if (
    String(headers.upgrade ?? "").toLowerCase() !== "websocket" ||
    typeof key !== "string" || !/^[+/0-9A-Za-z]{22}==$/.test(key) ||
    headers["sec-websocket-version"] !== "13"
  ) {
    throw ApiError.badRequest(
      "Invalid WebSocket handshake: send Upgrade: websocket, Sec-WebSocket-Version: 13 and a " +
        "Sec-WebSocket-Key.",
      null,
      "invalid_websocket_handshake",
    );
  }
}
