import { WebSocketServer } from "ws";
import { dialRealtime, RealtimeUpstreamError } from "./realtime-upstream.ts";

/**
 * The SSRF guard checks the addresses a realtime upstream's host resolves to; the dial must then
 * connect to those addresses and never ask DNS again (a rebinding answer would reach a private
 * address). Real sockets on loopback: 127.0.0.0/8 is all loopback on Linux.
 */
describe("dialRealtime pins the socket to the checked addresses", () => {
  let server: WebSocketServer;
  let port: number;
  let connections = 0;

  beforeAll(async () => {
    server = new WebSocketServer({ port: 0, host: "127.0.0.1" });
    await new Promise((resolve) => server.once("listening", resolve));
    port = (server.address() as { port: number }).port;
    server.on("connection", (socket) => {
      connections++;
      socket.send(JSON.stringify({ type: "session.created" }));
    });
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  const dial = (host: string, pinnedAddresses: string[]) =>
    dialRealtime(`ws://${host}:${port}/v1/realtime?model=m`, {
      timeoutMs: 2_000,
      maxPayload: 1 << 20,
      pinnedAddresses,
    });

  it("connects to the pinned address even when the host resolves nowhere", async () => {
    const before = connections;
    const socket = await dial("never-resolves.invalid", ["127.0.0.1"]);
    socket.terminate();
    expect(connections).toBe(before + 1);
  });

  it("ignores what DNS says now: localhost pinned to another address never reaches it", async () => {
    const before = connections;
    const error = await dial("localhost", ["127.0.0.3"]).then(() => undefined, (e) => e);
    expect(error).toBeInstanceOf(RealtimeUpstreamError);
    expect((error as RealtimeUpstreamError).code).toBe("realtime_upstream_unavailable");
    expect(connections).toBe(before);
  });
});
