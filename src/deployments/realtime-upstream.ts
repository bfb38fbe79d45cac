import type { LookupFunction } from "node:net";
import WebSocket from "ws";
import { DomainError } from "../common/domain-error.ts";

/**
 * How the gateway reaches an upstream that speaks the realtime protocol: the URL it opens from
 * an OpenAI-compatible base URL, the dial itself (bounded, with the upstream's own key), and the
 * probe that checks a `realtime: true` declaration. Here rather than in realtime/ because
 * deployments probe at registration and realtime/ imports deployments, not the other way round.
 */

export type RealtimeUpstreamRefusal = "realtime_probe_failed" | "realtime_upstream_unavailable";

export class RealtimeUpstreamError extends DomainError<RealtimeUpstreamRefusal> {}

/** `http://h/v1` + `m` → `ws://h/v1/realtime?model=m` (https → wss). */
export function realtimeUrl(baseUrl: string, upstreamModel: string): string {
  const url = new URL(`${baseUrl.replace(/\/+$/, "")}/realtime`);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  url.search = `?model=${encodeURIComponent(upstreamModel)}`;
  return url.toString();
}

export interface DialOptions {
  /** `Bearer …` of the upstream itself; never the client's. */
  authorization?: string;
  timeoutMs: number;
  maxPayload: number;
  /** Pins the connection to addresses the SSRF guard checked. */
  pinnedAddresses?: string[];
}

/**
 * Opens the upstream socket. No subprotocol is asked for: `ws` fails a handshake whose server
 * selects none, and realtime servers (vLLM, speaches) do not all select one.
 */
export function dialRealtime(url: string, options: DialOptions): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, {
      headers: options.authorization ? { authorization: options.authorization } : {},
      handshakeTimeout: options.timeoutMs,
      maxPayload: options.maxPayload,
      perMessageDeflate: false,
      followRedirects: false,
      ...(options.pinnedAddresses?.length ? { lookup: pinnedLookup(options.pinnedAddresses) } : {}),
    });
    let settled = false;
    const fail = (detail: string) => {
      if (settled) return;
      settled = true;
      socket.removeAllListeners();
      socket.on("error", () => undefined);
      socket.terminate();
      reject(
        new RealtimeUpstreamError(
          "realtime_upstream_unavailable",
          `The realtime upstream could not be reached (${detail}).`,
        ),
      );
    };
    socket.once("open", () => {
      if (settled) return;
      settled = true;
      socket.removeAllListeners("unexpected-response");
      // Nothing is read until the caller listens and calls resume(): a first frame arriving
      // with or right after the handshake (session.created) was otherwise emitted to no one.
      socket.pause();
      resolve(socket);
    });
    socket.once("unexpected-response", (_request, response) => {
      response.resume();
      fail(`it answered HTTP ${response.statusCode}`);
    });
    // The message only names the failure class; it never carries the URL's key or headers.
    socket.once("error", (error: Error & { code?: string }) => fail(error.code ?? "socket error"));
    socket.once("close", () => fail("closed during the handshake"));
  });
}

/**
 * The check behind `"realtime": true`: the upstream must accept the socket and send
 * `session.created` (or at least stay open) within `timeoutMs`; then it is closed.
 */
export async function probeRealtime(url: string, options: DialOptions): Promise<void> {
  const started = Date.now();
  let socket: WebSocket;
  try {
    socket = await dialRealtime(url, options);
  } catch (error) {
    throw new RealtimeUpstreamError(
      "realtime_probe_failed",
      `The upstream did not accept a realtime connection at /realtime: ${(error as Error).message}`,
      "realtime",
    );
  }
  await new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    // Open is enough: a server that speaks first says `session.created`, one that waits doesn't.
    const timer = setTimeout(
      done,
      Math.max(0, Math.min(1_000, options.timeoutMs - (Date.now() - started))),
    );
    socket.once("message", done);
    socket.once("close", done);
    socket.on("error", () => undefined);
    socket.resume();
  });
  socket.close(1000, "probe");
  setTimeout(() => socket.terminate(), 1_000).unref?.();
}

function pinnedLookup(addresses: string[]): LookupFunction {
  return ((
    _hostname: string,
    options: { all?: boolean },
    callback: (...args: unknown[]) => void,
  ) => {
    const family = addresses[0].includes(":") ? 6 : 4;
    if (options?.all) callback(null, addresses.map((address) => ({ address, family })));
    else callback(null, addresses[0], family);
  }) as unknown as LookupFunction;
}
