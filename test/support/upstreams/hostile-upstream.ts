import { Buffer } from "node:buffer";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * An "OpenAI-compatible" upstream an account could register to hurt the gateway (issue 11,
 * scenario 2). Every mode answers 200 at once, then:
 * - `endless-json`: an `application/json` body that never ends (`{"id":"x","pad":"aaaa…`);
 * - `sse-no-frame-end`: an event stream of bytes with no line end, so no frame ever completes;
 * - `sse-firehose`: valid chat chunks as fast as the gateway reads, never finishing;
 * - `drip`: one byte every `dripIntervalMs` (JSON or SSE by the request's `stream`).
 * Writes honour backpressure (a paused reader stalls the writer, as a real server would), so
 * this process holds one 64 KiB block, not what it sent. Each response is recorded with when it
 * opened and closed and how many bytes it wrote, so tests can see the gateway let go.
 */
export type HostileMode = "endless-json" | "sse-no-frame-end" | "sse-firehose" | "drip";

export interface HostileResponse {
  mode: HostileMode;
  stream: boolean;
  openedAt: number;
  closedAt?: number;
  bytesSent: number;
  /** When a write last had to wait for the gateway to drain (the gateway stopped reading). */
  lastBlockedAt?: number;
}

export interface HostileUpstream {
  /** `http://127.0.0.1:<port>/v1` */
  baseUrl: string;
  mode: HostileMode;
  dripIntervalMs: number;
  responses: HostileResponse[];
  /** Resolves when the latest response has been closed (by the gateway). */
  closed(): Promise<HostileResponse>;
  close(): Promise<void>;
}

const BLOCK = 64 * 1024;

export async function startHostileUpstream(mode: HostileMode): Promise<HostileUpstream> {
  const waiters: Array<(response: HostileResponse) => void> = [];
  const upstream: HostileUpstream = {
    baseUrl: "",
    mode,
    dripIntervalMs: 3_000,
    responses: [],
    closed() {
      const latest = upstream.responses.at(-1);
      if (latest?.closedAt !== undefined) return Promise.resolve(latest);
      return new Promise((resolve) => waiters.push(resolve));
    },
    close: () => Promise.resolve(),
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    let stream = false;
    try {
      stream = JSON.parse(Buffer.concat(chunks).toString("utf8"))?.stream === true;
    } catch {
      // not JSON: answer anyway
    }
    const record: HostileResponse = {
      mode: upstream.mode,
      stream,
      openedAt: performance.now(),
      bytesSent: 0,
    };
    upstream.responses.push(record);
    res.on("close", () => {
      record.closedAt = performance.now();
      for (const waiter of waiters.splice(0)) waiter(record);
    });
    const sse = upstream.mode === "sse-no-frame-end" || upstream.mode === "sse-firehose" ||
      (upstream.mode === "drip" && stream);
    res.writeHead(200, {
      "content-type": sse ? "text/event-stream" : "application/json",
    });
    const write = async (data: Buffer | string): Promise<boolean> => {
      if (res.destroyed) return false;
      record.bytesSent += typeof data === "string" ? Buffer.byteLength(data) : data.length;
      if (res.write(data)) return true;
      record.lastBlockedAt = performance.now();
      await new Promise<void>((resolve) => {
        const done = () => {
          res.off("drain", done);
          res.off("close", done);
          resolve();
        };
        res.on("drain", done);
        res.on("close", done);
      });
      return !res.destroyed;
    };
    switch (upstream.mode) {
      case "endless-json": {
        const pad = Buffer.alloc(BLOCK, "a");
        if (!(await write('{"id":"chatcmpl-hostile","object":"chat.completion","pad":"'))) return;
        while (await write(pad));
        return;
      }
      case "sse-no-frame-end": {
        const pad = Buffer.alloc(BLOCK, "b");
        if (!(await write('data: {"choices":[{"index":0,"delta":{"content":"'))) return;
        while (await write(pad));
        return;
      }
      case "sse-firehose": {
        const frame = `data: ${
          JSON.stringify({
            id: "chatcmpl-hostile",
            object: "chat.completion.chunk",
            created: 1_700_000_000,
            model: "hostile",
            choices: [{ index: 0, delta: { content: "x".repeat(4000) }, finish_reason: null }],
          })
        }\n\n`;
        const block = Buffer.from(frame.repeat(Math.max(1, Math.floor(BLOCK / frame.length))));
        while (await write(block));
        return;
      }
      case "drip": {
        const start = stream ? 'data: {"choices":[{"index":0,"delta":{"content":"' : '{"pad":"';
        if (!(await write(start))) return;
        while (!res.destroyed) {
          await new Promise((resolve) => setTimeout(resolve, upstream.dripIntervalMs));
          if (!(await write("c"))) return;
        }
      }
    }
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  upstream.baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  upstream.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return upstream;
}
