import { Buffer } from "node:buffer";
import { request as httpRequest } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { connect, type Socket } from "node:net";
import type { AddressInfo } from "node:net";

/**
 * A TLS-terminating reverse proxy in front of a plain-HTTP gateway, as nginx or a cloud load
 * balancer would sit there: it serves HTTPS with the given certificate, forwards each request
 * over plain HTTP with `X-Forwarded-Proto: https` and the client's address appended to
 * `X-Forwarded-For`, and passes WebSocket upgrades (wss: in front, ws: behind) through as raw
 * bytes once the head is forwarded. Tests only; no limits beyond what the gateway applies.
 */
export interface TlsProxy {
  /** `https://127.0.0.1:<port>` */
  url: string;
  /** Requests and upgrades forwarded so far. */
  forwarded: number;
  close(): Promise<void>;
}

export async function startTlsProxy(
  target: string,
  tls: { cert: string; key: string },
): Promise<TlsProxy> {
  const upstream = new URL(target);
  const port = Number(upstream.port);
  const sockets = new Set<Socket>();
  const forwardedHeaders = (
    headers: Record<string, string | string[] | undefined>,
    peer?: string,
  ) => {
    const prior = headers["x-forwarded-for"];
    return {
      ...headers,
      "x-forwarded-proto": "https",
      "x-forwarded-for": prior ? `${prior}, ${peer}` : peer,
    };
  };

  const state = { forwarded: 0 };
  const server = createHttpsServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    state.forwarded++;
    const outgoing = httpRequest({
      host: upstream.hostname,
      port,
      method: req.method,
      path: req.url,
      headers: forwardedHeaders(req.headers, req.socket.remoteAddress),
    }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    outgoing.on("error", () => {
      if (!res.headersSent) res.writeHead(502, { "content-type": "text/plain" });
      res.end("bad gateway");
    });
    req.pipe(outgoing);
  });

  server.on("upgrade", (req, client: Socket, head: Buffer) => {
    state.forwarded++;
    sockets.add(client);
    const backend = connect(port, upstream.hostname);
    sockets.add(backend);
    const headers = forwardedHeaders(req.headers, client.remoteAddress);
    const lines = [`${req.method} ${req.url} HTTP/1.1`];
    for (const [name, value] of Object.entries(headers)) {
      for (const one of [value ?? []].flat()) lines.push(`${name}: ${one}`);
    }
    backend.on("connect", () => {
      backend.write(`${lines.join("\r\n")}\r\n\r\n`);
      if (head.length > 0) backend.write(head);
      backend.pipe(client);
      client.pipe(backend);
    });
    const closeBoth = () => {
      client.destroy();
      backend.destroy();
      sockets.delete(client);
      sockets.delete(backend);
    };
    backend.on("error", closeBoth);
    client.on("error", closeBoth);
    backend.on("close", closeBoth);
    client.on("close", closeBoth);
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const address = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${address.port}`,
    get forwarded() {
      return state.forwarded;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}
