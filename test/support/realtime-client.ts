import { type ClientOptions, WebSocket } from "ws";

/**
 * A browser-style Realtime client for tests (the `ws` package, events as JSON text frames):
 * every server event is kept in order, and `next(type)` waits, bounded, for the next one of a
 * type. `opened` rejects with the HTTP status of a refused upgrade.
 */
export interface RealtimeTestClient {
  socket: WebSocket;
  /** Every server event so far, in order. */
  events: any[];
  /** The selected subprotocol once open. */
  protocol(): string;
  opened: Promise<void>;
  /** The close code and reason once the socket closed. */
  closed: Promise<{ code: number; reason: string }>;
  send(event: Record<string, unknown>): void;
  /** The next event of `type` not yet taken (earlier ones included), within `timeoutMs`. */
  next(type: string, timeoutMs?: number): Promise<any>;
  /** Sends a user text and `response.create`; resolves with the `response.done`. */
  ask(text: string, response?: Record<string, unknown>, timeoutMs?: number): Promise<any>;
  close(code?: number, reason?: string): void;
}

export class UpgradeRefused extends Error {
  constructor(readonly status: number, readonly body: string) {
    super(`upgrade refused with ${status}: ${body}`);
  }
}

export function connectRealtime(
  url: string,
  options: { protocols?: string[]; headers?: Record<string, string>; ws?: ClientOptions } = {},
): RealtimeTestClient {
  const socket = new WebSocket(url, options.protocols ?? [], {
    headers: options.headers,
    perMessageDeflate: false,
    ...options.ws,
  });
  const events: any[] = [];
  const taken = new Set<number>();
  const waiters: Array<() => void> = [];
  const opened = new Promise<void>((resolve, reject) => {
    socket.once("open", () => resolve());
    socket.once("unexpected-response", (_request, response) => {
      let body = "";
      response.on("data", (chunk: Buffer) => (body += chunk.toString()));
      response.on("end", () => reject(new UpgradeRefused(response.statusCode ?? 0, body)));
      response.on("error", () => reject(new UpgradeRefused(response.statusCode ?? 0, body)));
    });
    socket.once("error", (error) => reject(error));
  });
  opened.catch(() => undefined);
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    socket.once("close", (code, reason) => {
      resolve({ code, reason: reason.toString() });
      for (const wake of waiters.splice(0)) wake();
    });
  });
  socket.on("error", () => undefined);
  socket.on("message", (data) => {
    events.push(JSON.parse(data.toString()));
    for (const wake of waiters.splice(0)) wake();
  });

  const next = (type: string, timeoutMs = 10_000) =>
    new Promise<any>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`no ${type} within ${timeoutMs} ms (last: ${events.at(-1)?.type})`));
      }, timeoutMs);
      const look = () => {
        const index = events.findIndex((event, i) => !taken.has(i) && event.type === type);
        if (index !== -1) {
          taken.add(index);
          clearTimeout(timer);
          return resolve(events[index]);
        }
        if (socket.readyState === WebSocket.CLOSED) {
          clearTimeout(timer);
          return reject(new Error(`socket closed before ${type}`));
        }
        waiters.push(look);
      };
      look();
    });

  return {
    socket,
    events,
    protocol: () => socket.protocol,
    opened,
    closed,
    send: (event) => socket.send(JSON.stringify(event)),
    next,
    async ask(text, response = {}, timeoutMs = 10_000) {
      socket.send(JSON.stringify({
        type: "conversation.item.create",
        item: { type: "message", role: "user", content: [{ type: "input_text", text }] },
      }));
      socket.send(JSON.stringify({ type: "response.create", response }));
      return await next("response.done", timeoutMs);
    },
    close: (code, reason) => socket.close(code, reason),
  };
}

/** The text of a response's `response.output_text.delta` events, joined. */
export function textOf(events: any[], responseId: string): string {
  return events
    .filter((event) =>
      event.type === "response.output_text.delta" && event.response_id === responseId
    )
    .map((event) => event.delta)
    .join("");
}
