import { Buffer } from "node:buffer";
import { connect } from "node:net";

/**
 * Raw HTTP/1.1 over one TCP socket, for what fetch cannot express: several requests on one
 * connection, malformed request lines and headers, bodies shorter than their Content-Length.
 */
export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface RawExchange {
  responses: RawResponse[];
  /** The server closed (or reset) the connection before `waitMs`. */
  closed: boolean;
  /** Milliseconds from the first byte sent to the close, or to giving up. */
  elapsedMs: number;
  /** Bytes received that do not form a whole response (a hang shows none). */
  trailing: string;
}

/**
 * Writes `chunks` (the second and later after `gapMs` each), then waits until the server
 * closes the socket, `expectResponses` responses are in, or `waitMs` passes.
 */
export function rawExchange(
  port: number,
  chunks: Array<string | Uint8Array>,
  options: { waitMs?: number; gapMs?: number; expectResponses?: number } = {},
): Promise<RawExchange> {
  const waitMs = options.waitMs ?? 3000;
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    const started = Date.now();
    let received = Buffer.alloc(0);
    let settled = false;
    const finish = (closed: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const { responses, rest } = parseResponses(received);
      resolve({ responses, closed, elapsedMs: Date.now() - started, trailing: rest });
    };
    const timer = setTimeout(() => finish(false), waitMs);
    socket.on("data", (data: Buffer) => {
      received = Buffer.concat([received, data]);
      if (
        options.expectResponses !== undefined &&
        parseResponses(received).responses.length >= options.expectResponses
      ) finish(false);
    });
    socket.on("error", () => finish(true));
    socket.on("close", () => finish(true));
    socket.once("connect", async () => {
      for (const [index, chunk] of chunks.entries()) {
        if (index > 0 && options.gapMs) await new Promise((r) => setTimeout(r, options.gapMs));
        if (socket.destroyed) return;
        socket.write(chunk);
      }
    });
  });
}

/** Whole responses with a Content-Length (every error the gateway writes has one). */
export function parseResponses(bytes: Buffer): { responses: RawResponse[]; rest: string } {
  const responses: RawResponse[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    const headEnd = bytes.indexOf("\r\n\r\n", offset);
    if (headEnd < 0) break;
    const [statusLine, ...lines] = bytes.subarray(offset, headEnd).toString("latin1").split("\r\n");
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1]);
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(":");
      if (colon > 0) {
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
    }
    const length = Number(headers["content-length"] ?? 0);
    const bodyStart = headEnd + 4;
    if (!Number.isFinite(status) || bytes.length < bodyStart + length) break;
    responses.push({
      status,
      headers,
      body: bytes.subarray(bodyStart, bodyStart + length).toString("utf8"),
    });
    offset = bodyStart + length;
  }
  return { responses, rest: bytes.subarray(offset).toString("latin1") };
}

/** A request with a JSON (or any) body, as bytes. */
export function rawRequest(
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: string } = {},
): string {
  const headers: Record<string, string> = { host: "127.0.0.1", ...options.headers };
  if (options.body !== undefined) {
    headers["content-type"] ??= "application/json";
    headers["content-length"] ??= String(Buffer.byteLength(options.body));
  }
  const head = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join("");
  return `${method} ${path} HTTP/1.1\r\n${head}\r\n${options.body ?? ""}`;
}

/** The OpenAI error envelope, exactly: `{"error":{"message","type","param","code"}}`. */
export function isEnvelope(body: unknown): boolean {
  if (typeof body !== "object" || body === null || Array.isArray(body)) return false;
  const error = (body as { error?: unknown }).error;
  if (typeof error !== "object" || error === null) return false;
  const fields = error as Record<string, unknown>;
  return typeof fields.message === "string" && typeof fields.type === "string" &&
    "param" in fields && (fields.param === null || typeof fields.param === "string") &&
    "code" in fields && (fields.code === null || typeof fields.code === "string");
}

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** `depth` nested arrays around a value: JSON that costs nothing to build or send. */
export function deepJson(depth: number, inner = "1"): string {
  return "[".repeat(depth) + inner + "]".repeat(depth);
}

/** An object nested `depth` levels deep under `key`. */
export function deepObject(depth: number, key = "a"): string {
  return `{"${key}":`.repeat(depth) + "1" + "}".repeat(depth);
}
