import { Buffer } from "node:buffer";
import type { IncomingMessage, ServerResponse } from "node:http";

export class PayloadTooLarge extends Error {}

/** Reads the body; past `limit` bytes it keeps draining (so the client can finish) and throws. */
export async function readBody(req: IncomingMessage, limit = 64 * 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size <= limit) chunks.push(chunk as Buffer);
  }
  if (size > limit) throw new PayloadTooLarge(`request body is ${size} bytes, limit ${limit}`);
  return Buffer.concat(chunks);
}

export class BadJson extends Error {}

export async function readJson(req: IncomingMessage, limit?: number): Promise<any> {
  const raw = await readBody(req, limit);
  if (raw.length === 0) return {};
  try {
    return JSON.parse(raw.toString("utf8"));
  } catch {
    throw new BadJson("request body is not valid JSON");
  }
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

/** RFC 9457 problem details, as RunPod's REST v2 sends them. */
export function sendProblem(
  res: ServerResponse,
  status: number,
  detail: string,
  errors: string[] = [],
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify({ title: STATUS_TITLES[status] ?? "Error", status, detail, errors });
  res.writeHead(status, {
    "content-type": "application/problem+json",
    "content-length": String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

export function sendText(res: ServerResponse, status: number, text: string, head = false): void {
  res.writeHead(status, {
    "content-type": "text/plain; charset=utf-8",
    "content-length": String(Buffer.byteLength(text)),
  });
  res.end(head ? undefined : text);
}

export const STATUS_TITLES: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  409: "Conflict",
  413: "Content Too Large",
  429: "Too Many Requests",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
};

export function bearerToken(req: IncomingMessage): string | undefined {
  const header = req.headers.authorization;
  if (!header) return undefined;
  const match = /^Bearer\s+(.+)$/i.exec(header);
  // RunPod's docs' curl examples also send the bare key.
  return match ? match[1].trim() : header.trim();
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function hashString(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return h >>> 0;
}

/** Writes to a response unless the client went away; resolves when the write is flushed. */
export function write(res: ServerResponse, text: string): boolean {
  if (res.destroyed || res.writableEnded) return false;
  res.write(text);
  return true;
}
