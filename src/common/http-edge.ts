import { Buffer } from "node:buffer";
import type { IncomingHttpHeaders } from "node:http";
import type { Socket } from "node:net";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { ApiError } from "./api-error.ts";
import { recordResponse } from "./http-hooks.ts";
import { sendApiError } from "./openai-exception.filter.ts";

/** Deeper bodies are refused before any transformer walks them (class-transformer recurses). */
export const MAX_JSON_DEPTH = 64;

/**
 * Errors Fastify's router raises before any hook runs (a malformed percent-escape, an
 * over-long path parameter). The request body has not been read, so the connection is closed
 * after the answer: the unread bytes would otherwise be parsed as the next request.
 */
export function frameworkErrorHandler(
  error: { code?: string; statusCode?: number },
  request: FastifyRequest,
  reply: FastifyReply,
): void {
  reply.header("x-request-id", request.id);
  closeIfBodyUnread(request.raw, reply);
  const apiError = frameworkError(error);
  sendApiError(reply, apiError);
  recordResponse(request, apiError.getStatus(), 0);
}

function frameworkError(error: { code?: string; statusCode?: number }): ApiError {
  switch (error.code) {
    case "FST_ERR_BAD_URL":
      // The path is not echoed: it may be kilobytes long.
      return ApiError.badRequest(
        "The request URL is malformed (an invalid percent-encoded sequence).",
        null,
        "invalid_url",
      );
    case "FST_ERR_MAX_PARAM_LENGTH":
      return new ApiError(414, "A segment of the request URL is too long.", {
        code: "uri_too_long",
      });
  }
  const status = typeof error.statusCode === "number" && error.statusCode < 500
    ? error.statusCode
    : 400;
  return new ApiError(status, "Bad request.", { code: "invalid_request" });
}

/**
 * The HTTP parser's own refusals (an unparsable request line or header, headers over the
 * size limit, a bad Content-Length or chunk). No request object exists yet, so the envelope
 * is written straight to the socket, which is then closed: its remaining bytes cannot be
 * trusted as a next request.
 */
export function clientErrorHandler(error: { code?: string }, socket: Socket): void {
  if (error.code === "ECONNRESET" || socket.destroyed) return;
  const [status, reason, apiError] = clientError(error.code);
  writeRawAndClose(socket, status, reason, apiError);
}

function clientError(code: string | undefined): [number, string, ApiError] {
  switch (code) {
    case "HPE_HEADER_OVERFLOW":
      return [
        431,
        "Request Header Fields Too Large",
        new ApiError(431, "The request headers are too large.", {
          code: "request_header_fields_too_large",
        }),
      ];
    case "ERR_HTTP_REQUEST_TIMEOUT":
      return [408, "Request Timeout", requestTimeoutError()];
    default:
      return [
        400,
        "Bad Request",
        ApiError.badRequest("The request is not valid HTTP/1.1.", null, "malformed_request"),
      ];
  }
}

export function requestTimeoutError(): ApiError {
  return new ApiError(408, "The request was not received in time.", { code: "request_timeout" });
}

/** Writes a whole response to a socket outside Fastify, then closes it (destroyed if the peer lingers). */
export function writeRawAndClose(
  socket: Socket,
  status: number,
  reason: string,
  error: ApiError,
): void {
  const body = JSON.stringify(error.body());
  const head = `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n`;
  if (socket.writable) socket.end(head + body);
  setTimeout(() => socket.destroy(), 1000).unref();
}

/** A request whose body has not been read to its end (or not at all). */
function bodyUnread(raw: { complete: boolean; headers: IncomingHttpHeaders }): boolean {
  if (raw.complete) return false;
  const length = raw.headers["content-length"];
  return raw.headers["transfer-encoding"] !== undefined ||
    (length !== undefined && length !== "0");
}

function closeIfBodyUnread(
  raw: { complete: boolean; headers: IncomingHttpHeaders },
  reply: FastifyReply,
): void {
  if (bodyUnread(raw)) reply.header("connection", "close");
}

/**
 * Hooks at the edge of every route:
 * - a request arriving while the server closes (on a busy keep-alive connection; idle ones are
 *   closed at once) is a 503 envelope with `Connection: close`. Fastify's own
 *   `return503OnClosing` answers before any hook in its own shape, so app.ts turns it off;
 * - an HTTP/1.1 request without Host is a 400 in the envelope;
 * - a JSON body deeper than MAX_JSON_DEPTH is a 400 before Nest's pipes run;
 * - an answer sent before the body was read closes the connection (a keep-alive connection
 *   would otherwise read the rest of the body as the next request and hang).
 */
export function registerEdgeHooks(fastify: FastifyInstance): void {
  let closing = false;
  fastify.addHook("preClose", (done) => {
    closing = true;
    done();
  });
  fastify.addHook("onRequest", (request, reply, done) => {
    if (closing) {
      reply.header("connection", "close");
      done(
        new ApiError(503, "The server is shutting down; retry shortly.", {
          type: "server_error",
          code: "service_unavailable",
        }),
      );
      return;
    }
    // HTTP/1.1 requires Host (RFC 9112 §3.2); node:http's own refusal is disabled for this one.
    if (request.headers.host === undefined && request.raw.httpVersion === "1.1") {
      done(ApiError.badRequest("The Host header is required.", null, "missing_host"));
      return;
    }
    done();
  });
  fastify.addHook("preValidation", (request, _reply, done) => {
    const body = request.body;
    if (typeof body === "object" && body !== null && exceedsDepth(body, MAX_JSON_DEPTH)) {
      done(
        ApiError.badRequest(
          `The JSON body is nested more than ${MAX_JSON_DEPTH} levels deep.`,
          null,
          "json_too_deep",
        ),
      );
      return;
    }
    done();
  });
  fastify.addHook("onSend", (request, reply, payload, done) => {
    closeIfBodyUnread(request.raw, reply);
    done(null, payload);
  });
}

/**
 * Whether a parsed JSON value nests deeper than `maxDepth` (a scalar is depth 0, `{}` is 1).
 * Iterative, so a 20,000-deep body costs no stack; it stops at the first node past the limit.
 */
export function exceedsDepth(value: object, maxDepth: number): boolean {
  const nodes: object[] = [value];
  const depths: number[] = [1];
  while (nodes.length > 0) {
    const node = nodes.pop() as Record<string, unknown>;
    const depth = depths.pop() as number;
    if (depth > maxDepth) return true;
    if (Array.isArray(node)) {
      for (const item of node) {
        if (typeof item === "object" && item !== null) {
          nodes.push(item);
          depths.push(depth + 1);
        }
      }
    } else {
      for (const key in node) {
        const item = node[key];
        if (typeof item === "object" && item !== null) {
          nodes.push(item);
          depths.push(depth + 1);
        }
      }
    }
  }
  return false;
}
