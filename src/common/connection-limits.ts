import { Buffer } from "node:buffer";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { Server as TlsServer } from "node:tls";
import { logger } from "./json-logger.ts";
import { repeatEvery } from "./repeat.ts";
import { requestTimeoutError, writeRawAndClose } from "./http-edge.ts";

export interface ConnectionLimits {
  /** The whole request (headers and body) must arrive within this. */
  requestTimeoutMs: number;
  /** A request's headers must arrive within this of the connection opening. */
  headersTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. */
  keepAliveTimeoutMs: number;
  maxConnections: number;
  /** A response that flushes no byte to its client for this long is cut off. */
  writeStallTimeoutMs: number;
}

interface Watched {
  deadline: number;
  request?: IncomingMessage;
  response?: ServerResponse;
  /** Between two requests of a keep-alive connection: closed without an answer. */
  idle: boolean;
}

/**
 * Responses whose writer watches its own client for stalls (the SSE relay ends the stream,
 * aborts the upstream and records the stall itself); the connection sweep leaves them alone.
 */
const watchingOwnStalls = new WeakSet<ServerResponse>();

export function watchesOwnStalls(response: ServerResponse): void {
  watchingOwnStalls.add(response);
}

/** A response whose request has arrived, while it is written to its client. */
interface Sending {
  response: ServerResponse;
  /** Bytes still queued for the client at the last sweep that saw progress. */
  queued: number;
  since: number;
}

/**
 * Bounds how long a client may take to send a request, how long it may leave an answer unread,
 * and how many connections are open.
 *
 * Deno's node:http honours `keepAliveTimeout` and `maxConnections` but ignores
 * `requestTimeout` and `headersTimeout` (measured: a `Content-Length: 100000` request with 10
 * bytes sent stayed open indefinitely). So both are also enforced here, by one sweep over the
 * sockets still receiving a request: a socket waiting for headers, or whose body has not
 * arrived, past its deadline gets a 408 envelope and is closed. A request whose body has
 * arrived leaves the sweep, so a long streamed response is never cut. Deno closes an idle
 * keep-alive connection itself, at about twice `keepAliveTimeout` (measured); the sweep closes
 * one idle for `keepAliveTimeout` plus the headers time, without an answer.
 *
 * A client that stops reading its answer would keep the whole answer queued in the gateway for
 * as long as the connection lives (a 16 MiB completion per socket). The same sweep watches each
 * answer being written: one whose queue has not shrunk for `writeStallTimeoutMs` has its socket
 * destroyed, which frees the queue and ends the request's hold on everything else.
 */
export function boundConnections(server: Server, limits: ConnectionLimits): () => void {
  server.maxConnections = limits.maxConnections;
  // node:http answers a missing Host with a bare 400 of its own; registerEdgeHooks answers it
  // in the envelope instead.
  (server as { requireHostHeader?: boolean }).requireHostHeader = false;
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  // Node checks these itself (and refuses headersTimeout > requestTimeout).
  server.requestTimeout = limits.requestTimeoutMs;
  server.headersTimeout = Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs);

  const receiving = new Map<Socket, Watched>();
  const sending = new Map<Socket, Sending>();
  const headersWindow = Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs);
  // Between two keep-alive requests the idle time is allowed as well as the headers time.
  const nextHeadersWindow = limits.keepAliveTimeoutMs + headersWindow;

  const watch = (
    socket: Socket,
    deadline: number,
    request?: IncomingMessage,
    response?: ServerResponse,
    idle = false,
  ) => {
    const entry = receiving.get(socket);
    if (entry) {
      entry.deadline = deadline;
      entry.request = request;
      entry.response = response;
      entry.idle = idle;
    } else {
      receiving.set(socket, { deadline, request, response, idle });
    }
  };

  const onConnection = (socket: Socket) => {
    watch(socket, Date.now() + headersWindow);
    socket.once("close", () => {
      receiving.delete(socket);
      sending.delete(socket);
    });
  };
  const onRequest = (request: IncomingMessage, response: ServerResponse) => {
    const socket = request.socket;
    watch(socket, Date.now() + limits.requestTimeoutMs, request, response);
    response.once("finish", () => {
      if (sending.get(socket)?.response === response) sending.delete(socket);
      if (socket.destroyed) return;
      // A pipelined next request may already be watched; its deadline stands.
      const entry = receiving.get(socket);
      if (!entry || entry.request === request) {
        watch(socket, Date.now() + nextHeadersWindow, undefined, undefined, true);
      }
    });
  };
  // Over TLS a request's socket is the TLSSocket of "secureConnection", not the TCP socket of
  // "connection" (an HTTP 408 could not be written on the latter anyway), so the handshake
  // gets a deadline of its own and the TLS socket is what the sweep watches.
  const tls = server instanceof TlsServer;
  const stopHandshakes = tls ? boundHandshakes(server, headersWindow) : () => undefined;
  const connectionEvent = tls ? "secureConnection" : "connection";
  // An upgraded connection (realtime WebSocket) is no longer HTTP: its request is in, and the
  // relay bounds it from there, so it leaves the sweep (which would write a 408 into it).
  const onUpgrade = (request: IncomingMessage) => receiving.delete(request.socket);
  server.on(connectionEvent, onConnection);
  server.on("request", onRequest);
  server.on("upgrade", onUpgrade);

  const sweep = () => {
    const now = Date.now();
    for (const [socket, entry] of receiving) {
      const { request, response } = entry;
      if (request?.complete) {
        // The request is in; its response may take as long as it needs, if the client reads it.
        receiving.delete(socket);
        if (response && !response.writableFinished && !watchingOwnStalls.has(response)) {
          sending.set(socket, { response, queued: response.writableLength, since: now });
        }
        continue;
      }
      if (now < entry.deadline) continue;
      receiving.delete(socket);
      if (entry.idle) closeIdle(socket);
      else timeOut(socket, response);
    }
    for (const [socket, entry] of sending) {
      const { response } = entry;
      if (response.writableFinished || socket.destroyed) {
        sending.delete(socket);
        continue;
      }
      const queued = response.writableLength;
      // The stall is dated from the first look at a queue that then stopped shrinking, never
      // from before the answer was queued: producing a large answer can block the event loop
      // between a look at the empty queue and the write, which would shorten the allowed wait.
      if (queued === 0 || entry.queued === 0 || queued < entry.queued) {
        entry.queued = queued;
        entry.since = now;
        continue;
      }
      if (now - entry.since < limits.writeStallTimeoutMs) continue;
      sending.delete(socket);
      logger.write("warn", "client stopped reading its answer; connection closed", {
        queuedBytes: queued,
        writeStallTimeoutMs: limits.writeStallTimeoutMs,
      });
      response.destroy();
      socket.destroy();
    }
  };
  const shortestWindow = Math.min(headersWindow, limits.writeStallTimeoutMs);
  const period = Math.max(50, Math.min(1000, Math.floor(shortestWindow / 10)));
  const sweeping = repeatEvery(period, sweep);
  const stop = () => {
    sweeping.stop();
    stopHandshakes();
    server.off(connectionEvent, onConnection);
    server.off("request", onRequest);
    server.off("upgrade", onUpgrade);
  };
  server.once("close", stop);
  return stop;
}

/**
 * A TLS connection must finish its handshake within the headers window, or it is dropped
 * (Deno's node:tls ignores `handshakeTimeout`). The TCP socket and its TLSSocket are different
 * objects there, paired by the peer's address and port.
 */
function boundHandshakes(server: TlsServer, windowMs: number): () => void {
  const pending = new Map<string, ReturnType<typeof setTimeout>>();
  const peer = (socket: Socket) => `${socket.remoteAddress}|${socket.remotePort}`;
  const onConnection = (socket: Socket) => {
    const key = peer(socket);
    const timer = setTimeout(() => {
      pending.delete(key);
      socket.destroy();
    }, windowMs);
    timer.unref?.();
    pending.set(key, timer);
    socket.once("close", () => {
      if (pending.get(key) === timer) pending.delete(key);
      clearTimeout(timer);
    });
  };
  const onSecure = (socket: Socket) => {
    const key = peer(socket);
    clearTimeout(pending.get(key));
    pending.delete(key);
  };
  server.on("connection", onConnection);
  server.on("secureConnection", onSecure);
  return () => {
    server.off("connection", onConnection);
    server.off("secureConnection", onSecure);
    for (const timer of pending.values()) clearTimeout(timer);
    pending.clear();
  };
}

/** As Node closes an idle keep-alive connection: no answer, since no request is pending. */
function closeIdle(socket: Socket): void {
  socket.end();
  setTimeout(() => socket.destroy(), 1000).unref();
}

function timeOut(socket: Socket, response: ServerResponse | undefined): void {
  if (!response) {
    writeRawAndClose(socket, 408, "Request Timeout", requestTimeoutError());
    return;
  }
  if (!response.headersSent) {
    const body = JSON.stringify(requestTimeoutError().body());
    response.writeHead(408, {
      "content-type": "application/json; charset=utf-8",
      "content-length": Buffer.byteLength(body),
      connection: "close",
    });
    response.end(body, () => socket.destroy());
  }
  // A peer that does not read the answer is cut off anyway.
  setTimeout(() => socket.destroy(), 1000).unref();
}
