import type { FastifyInstance } from "fastify";
import type { Buffer } from "node:buffer";
import { type IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { ApiError } from "../common/api-error.ts";
import { writeRawAndClose } from "../common/http-edge.ts";

/** The paths that accept a WebSocket upgrade. */
export const REALTIME_PATHS = ["/v1/realtime", "/api/v1/realtime"];

const KEY_PROTOCOL = "openai-insecure-api-key.";

/** The upgrade's socket and first bytes, kept for the route that completes the handshake. */
export interface PendingUpgrade {
  socket: Duplex;
  head: Buffer;
}

const pending = new WeakMap<IncomingMessage, PendingUpgrade>();

/** The upgrade behind a request, when it arrived as one (the route answers 426 otherwise). */
export function pendingUpgrade(request: IncomingMessage): PendingUpgrade | undefined {
  return pending.get(request);
}

/**
 * Routes WebSocket upgrade requests through Fastify like any request, as @fastify/websocket
 * does: a ServerResponse bound to the socket, then Fastify's router, so the global rate limit,
 * the API key guard, request ids, edge hooks and the OpenAI error envelope all apply, and every
 * refusal is an ordinary HTTP response written before any handshake. The route completes the
 * handshake itself (RealtimeService). Verified under Deno 2.9: `node:http` emits 'upgrade' with
 * a usable socket, and `ServerResponse#assignSocket` writes to it.
 *
 * The browser-style key travels as the subprotocol `openai-insecure-api-key.<key>`; it becomes
 * the Authorization header here and is taken out of the offered protocols, so it is never
 * echoed, selected or logged.
 */
export function routeUpgrades(fastify: FastifyInstance): void {
  const routing = (fastify as unknown as {
    routing: (request: IncomingMessage, response: ServerResponse) => void;
  }).routing;
  fastify.server.on("upgrade", (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on("error", () => socket.destroy());
    const path = (request.url ?? "").split("?")[0];
    if (request.method !== "GET" || !REALTIME_PATHS.includes(path)) {
      writeRawAndClose(
        socket as never,
        404,
        "Not Found",
        ApiError.notFound("This URL does not accept WebSocket upgrades.", "unknown_url"),
      );
      return;
    }
    moveKeyProtocol(request);
    pending.set(request, { socket, head });
    const response = new ServerResponse(request);
    response.assignSocket(socket as never);
    // A refusal is the whole exchange: the connection closes once it is written.
    response.once("finish", () => {
      if (pending.has(request)) socket.destroy();
    });
    routing(request, response);
  });
}

/** The handshake is taking over the socket: the refusal path above must not close it. */
export function claimUpgrade(request: IncomingMessage): PendingUpgrade | undefined {
  const upgrade = pending.get(request);
  pending.delete(request);
  return upgrade;
}

function moveKeyProtocol(request: IncomingMessage): void {
  const header = request.headers["sec-websocket-protocol"];
  if (typeof header !== "string") return;
  const offered = header.split(",").map((protocol) => protocol.trim()).filter(Boolean);
  const key = offered.find((protocol) => protocol.startsWith(KEY_PROTOCOL));
  const rest = offered.filter((protocol) => !protocol.startsWith(KEY_PROTOCOL));
  if (rest.length > 0) request.headers["sec-websocket-protocol"] = rest.join(", ");
  else delete request.headers["sec-websocket-protocol"];
  // The header wins when both are sent: it is what every other route reads.
  if (key && request.headers.authorization === undefined) {
    request.headers.authorization = `Bearer ${key.slice(KEY_PROTOCOL.length)}`;
  }
}
