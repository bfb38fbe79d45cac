import type { Buffer } from "node:buffer";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { type WebSocket, WebSocketServer } from "ws";
import type { SimContext } from "./context.ts";
import { sendJson } from "./http-util.ts";
import { serveRealtimeSession } from "./realtime.ts";

/**
 * RunPod load-balancing endpoints, which (unlike queue endpoints) hold a socket: in production
 * `https://{endpointId}.api.runpod.ai/{path}`, here `${baseUrl}/lb/{endpointId}/{path}`
 * (RUNPOD_LB_URL = lbUrlTemplate). Workers of kind `realtime` answer `GET /ping` and accept
 * WebSocket upgrades at `/v1/realtime?model=<served model name>` (realtime.ts).
 */
export interface LoadBalancer {
  http(req: IncomingMessage, res: ServerResponse, endpointId: string, path: string): void;
  upgrade(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    endpointId: string,
    path: string,
  ): void;
  /** Realtime sessions open now. */
  sessions(): WebSocket[];
  /** Destroys every open session's socket with no close frame (a worker crash). */
  dropSessions(): number;
  close(): void;
}

export function createLoadBalancer(ctx: SimContext): LoadBalancer {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 16 * 1024 * 1024 });
  const open = new Set<WebSocket>();

  const refuse = (socket: Duplex, status: number, message: string) => {
    const body = JSON.stringify({ error: message });
    socket.end(
      `HTTP/1.1 ${status} ${status === 401 ? "Unauthorized" : "Refused"}\r\n` +
        `content-type: application/json\r\ncontent-length: ${body.length}\r\n` +
        `connection: close\r\n\r\n${body}`,
    );
  };

  return {
    http(req, res, endpointId, path) {
      const endpoint = ctx.endpoints.get(endpointId);
      if (!endpoint || endpoint.worker !== "realtime") {
        return sendJson(res, 404, { error: "endpoint not found" });
      }
      if (path === "/ping" && req.method === "GET") {
        return sendJson(res, 200, { status: "healthy" });
      }
      return sendJson(res, 404, { error: "not found" });
    },
    upgrade(req, socket, head, endpointId, path) {
      const endpoint = ctx.endpoints.get(endpointId);
      if (!endpoint || endpoint.worker !== "realtime") {
        return refuse(socket, 404, "endpoint not found");
      }
      if (ctx.apiKey && req.headers.authorization !== `Bearer ${ctx.apiKey}`) {
        return refuse(socket, 401, "unauthorized");
      }
      const url = new URL(req.url ?? "/", "http://sim");
      const served = endpoint.servedModelName ?? endpoint.id;
      if (path !== "/v1/realtime") return refuse(socket, 404, "not found");
      if (url.searchParams.get("model") !== served) {
        return refuse(socket, 400, `model must be ${served}`);
      }
      wss.handleUpgrade(req, socket, head, (ws) => {
        open.add(ws);
        ws.on("close", () => open.delete(ws));
        ws.on("error", () => ws.terminate());
        serveRealtimeSession(ws, {
          model: served,
          behaviour: () => ({
            latencyMs: ctx.knobs.realtimeLatencyMs,
            deltaDelayMs: 1000 / ctx.knobs.tokensPerSecond,
            dropAfterDeltas: ctx.knobs.realtimeDropAfterDeltas,
            duplicateDone: ctx.knobs.realtimeDuplicateDone,
          }),
        });
      });
    },
    sessions: () => [...open],
    dropSessions() {
      const count = open.size;
      for (const ws of open) ws.terminate();
      return count;
    },
    close() {
      for (const ws of open) ws.terminate();
      wss.close();
    },
  };
}
