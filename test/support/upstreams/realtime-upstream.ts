import type { Buffer } from "node:buffer";
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { type WebSocket, WebSocketServer } from "ws";
import { type RealtimeBehaviour, serveRealtimeSession } from "../runpod-sim/realtime.ts";

/**
 * A local server that speaks the Realtime protocol at `/v1/realtime?model=…` (the simulator's
 * realtime worker, test/support/runpod-sim/realtime.ts), to register as an external upstream
 * with `realtime: true`. It records what the gateway sent (the Authorization header and
 * subprotocols of every upgrade, every client event, every close frame) and can be turned:
 * refuse upgrades, delay, drop sessions, close them, replay `response.done`.
 */
export interface RealtimeUpstreamKnobs extends RealtimeBehaviour {
  /** Required bearer token; undefined: none required. */
  apiKey?: string;
  /** Models served; undefined: any. */
  models?: string[];
}

export interface RealtimeUpgradeRecord {
  url: string;
  model: string | null;
  authorization?: string;
  protocols?: string;
  headers: Record<string, string | string[] | undefined>;
}

export interface RealtimeUpstream {
  /** `http://127.0.0.1:<port>/v1`, the `base_url` to register. */
  baseUrl: string;
  /** `ws://127.0.0.1:<port>/v1/realtime?model=<model>`, for direct connections. */
  realtimeUrl(model: string): string;
  knobs: RealtimeUpstreamKnobs;
  /** Every upgrade request that reached the server, oldest first (refused ones included). */
  upgrades: RealtimeUpgradeRecord[];
  /** Every client event of every session, parsed, oldest first (the last 10,000). */
  clientEvents: any[];
  /** Close frames the server received from its clients (the gateway), oldest first. */
  closes: Array<{ code: number; reason: string }>;
  /** Sessions open now. */
  openSessions(): number;
  /** The next `count` upgrades get this HTTP status instead. */
  refuseNext(status: number, count?: number): void;
  /** Destroys every open session's socket without a close frame (a crashed server). */
  dropAll(): number;
  /** Closes every open session with a close frame. */
  closeAll(code?: number, reason?: string): number;
  close(): Promise<void>;
}

const DEFAULT_KNOBS: RealtimeUpstreamKnobs = {
  latencyMs: 0,
  deltaDelayMs: 0,
  dropAfterDeltas: null,
  duplicateDone: false,
};

export async function startRealtimeUpstream(
  knobs: Partial<RealtimeUpstreamKnobs> = {},
): Promise<RealtimeUpstream> {
  const state: RealtimeUpstreamKnobs = { ...DEFAULT_KNOBS, ...knobs };
  const upgrades: RealtimeUpgradeRecord[] = [];
  const clientEvents: any[] = [];
  const closes: Array<{ code: number; reason: string }> = [];
  const refusals: number[] = [];
  const open = new Set<WebSocket>();
  // A subprotocol is selected only when offered; the gateway may offer `realtime` or nothing.
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: 16 * 1024 * 1024,
    handleProtocols: (protocols) => (protocols.has("realtime") ? "realtime" : false),
  });

  const refuse = (socket: Duplex, status: number, message: string) => {
    const body = JSON.stringify({ error: { message, type: "invalid_request_error" } });
    socket.end(
      `HTTP/1.1 ${status} Refused\r\ncontent-type: application/json\r\n` +
        `content-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`,
    );
  };

  const server = createServer((_req, res) => {
    res.writeHead(404, { "content-type": "application/json" });
    res.end(JSON.stringify({ error: { message: "only /v1/realtime is served here" } }));
  });
  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on("error", () => socket.destroy());
    const url = new URL(req.url ?? "/", "http://upstream");
    const model = url.searchParams.get("model");
    upgrades.push({
      url: req.url ?? "/",
      model,
      authorization: req.headers.authorization,
      protocols: req.headers["sec-websocket-protocol"] as string | undefined,
      headers: { ...req.headers },
    });
    if (upgrades.length > 10_000) upgrades.splice(0, 5_000);
    const refusal = refusals.shift();
    if (refusal) return refuse(socket, refusal, `simulated ${refusal}`);
    if (url.pathname !== "/v1/realtime") return refuse(socket, 404, "not found");
    if (state.apiKey && req.headers.authorization !== `Bearer ${state.apiKey}`) {
      return refuse(socket, 401, "Incorrect API key provided");
    }
    if (!model || (state.models && !state.models.includes(model))) {
      return refuse(socket, 400, `unknown model ${model}`);
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      open.add(ws);
      ws.on("close", (code, reason) => {
        open.delete(ws);
        closes.push({ code, reason: reason.toString() });
      });
      ws.on("error", () => ws.terminate());
      serveRealtimeSession(ws, {
        model,
        speaker: "the local realtime upstream",
        behaviour: () => state,
        onClientEvent: (event) => {
          clientEvents.push(event);
          if (clientEvents.length > 10_000) clientEvents.splice(0, 5_000);
        },
      });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    realtimeUrl: (model) => `ws://127.0.0.1:${port}/v1/realtime?model=${encodeURIComponent(model)}`,
    knobs: state,
    upgrades,
    clientEvents,
    closes,
    openSessions: () => open.size,
    refuseNext: (status, count = 1) => {
      for (let i = 0; i < count; i++) refusals.push(status);
    },
    dropAll() {
      const count = open.size;
      for (const ws of open) ws.terminate();
      return count;
    },
    closeAll(code = 1000, reason = "") {
      const count = open.size;
      for (const ws of open) ws.close(code, reason);
      return count;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const ws of open) ws.terminate();
        wss.close();
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}
