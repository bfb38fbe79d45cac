import { Buffer } from "node:buffer";
import { Agent as HttpAgent, type IncomingMessage, request as httpRequest } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import type { LookupAddress } from "node:dns";
import { Readable } from "node:stream";
import { type HostResolver, isPrivateAddress, systemResolver } from "../../security/ssrf-guard.ts";

/** Raised when an account-supplied host resolves to an address the SSRF rules refuse. */
export class ForbiddenUpstreamAddress extends Error {
  override readonly name = "ForbiddenUpstreamAddress";
}

/** Where a request goes and how it is sent (node:http's options the transport uses). */
export interface UpstreamRequestInit {
  method: string;
  headers: Record<string, string>;
  body?: string;
  signal: AbortSignal;
  /** Called once the TCP (and TLS) connection is up: the connect timeout stops there. */
  onConnect?: () => void;
}

/** The SSRF pinning of an account-supplied host (see `guardedFetch`). */
export interface AddressGuard {
  /** Connect to private addresses too (ALLOW_PRIVATE_UPSTREAMS, an operator-trusted host). */
  allowPrivate?: boolean;
  /** How the host is resolved; the system resolver unless a test pins the answer. */
  resolve?: HostResolver;
}

/**
 * Keep-alive pools for operator-trusted upstreams only (pods, the serverless catalogue, external
 * hosts under ALLOW_PRIVATE_UPSTREAMS): a connection is reused instead of dialled per request.
 * Guarded requests never take a socket from them, so each of those connects to an address its
 * own lookup checked.
 */
const trustedAgents = {
  "http:": new HttpAgent({ keepAlive: true }),
  "https:": new HttpsAgent({ keepAlive: true }),
};

/**
 * fetch-like transport for account-supplied upstreams: the host is resolved, every address
 * checked, and the socket connects to the checked address (a custom `lookup`), so a DNS answer
 * that changes between the check and the connect (rebinding) cannot reach a private address.
 * Redirects are never followed (node:http does not): the caller sees the 3xx.
 */
export async function guardedFetch(
  url: string,
  init: UpstreamRequestInit & AddressGuard,
): Promise<Response> {
  const res = await upstreamRequest(url, init, {
    allowPrivate: init.allowPrivate,
    resolve: init.resolve,
  });
  const headers = new Headers();
  for (const [name, value] of Object.entries(res.headers)) {
    if (Array.isArray(value)) { for (const item of value) headers.append(name, item); }
    else if (value !== undefined) headers.set(name, value);
  }
  const status = res.statusCode ?? 502;
  const body = status === 204 || status === 304
    ? null
    : Readable.toWeb(res) as ReadableStream<Uint8Array>;
  return new Response(body, { status, headers });
}

/**
 * One request over node:http, answered with node:http's own response (its body read through
 * BoundedBody.ofIncoming): no web Response or stream is built over it. With `guard`, the host is
 * pinned as `guardedFetch` describes; without, the host is operator-trusted and its connections
 * are kept alive and reused. A request that fails on a reused connection before any answer (the
 * upstream closed it while idle) is sent once more on a new one: nothing reached the upstream.
 */
export function upstreamRequest(
  url: string,
  init: UpstreamRequestInit,
  guard?: AddressGuard,
): Promise<IncomingMessage> {
  const target = new URL(url);
  const https = target.protocol === "https:";
  const request = https ? httpsRequest : httpRequest;
  const send = (allowReused: boolean) =>
    new Promise<IncomingMessage>((resolve, reject) => {
      let answered = false;
      const req = request(target, {
        method: init.method,
        headers: init.body === undefined
          ? init.headers
          : { ...init.headers, "content-length": String(Buffer.byteLength(init.body)) },
        signal: init.signal,
        ...(guard
          ? { lookup: pinnedLookup(guard) }
          : { agent: trustedAgents[https ? "https:" : "http:"] }),
      }, (res) => {
        answered = true;
        resolve(res);
      });
      req.on("error", (error: Error & { code?: string }) => {
        if (allowReused && !answered && req.reusedSocket && error.code === "ECONNRESET") {
          resolve(send(false));
        } else reject(error);
      });
      req.on("socket", (socket) => {
        // A small request goes out at once, not held back waiting for an earlier segment's ACK.
        socket.setNoDelay(true);
        const connected = () => init.onConnect?.();
        if (!socket.connecting) connected();
        else socket.once(https ? "secureConnect" : "connect", connected);
      });
      // Literal IPs skip `lookup`: check them here.
      const host = target.hostname.replace(/^\[|\]$/g, "");
      if (guard && !guard.allowPrivate && /^[\d.]+$|:/.test(host) && isPrivateAddress(host)) {
        req.destroy(new ForbiddenUpstreamAddress("upstream address is forbidden"));
        return;
      }
      req.end(init.body);
    });
  return send(!guard);
}

/** node:http's `lookup` that resolves the host and admits only addresses the SSRF rules allow. */
function pinnedLookup(guard: AddressGuard) {
  return ((
    hostname: string,
    options: { all?: boolean },
    callback: (...args: unknown[]) => void,
  ) => {
    (guard.resolve ?? systemResolver)(hostname).then((addresses) => {
      const refused = guard.allowPrivate ? undefined : addresses.find(isPrivateAddress);
      if (refused || addresses.length === 0) {
        return callback(
          new ForbiddenUpstreamAddress(`upstream host resolves to a forbidden address`),
        );
      }
      const entries: LookupAddress[] = addresses.map((address) => ({
        address,
        family: address.includes(":") ? 6 : 4,
      }));
      if (options?.all) callback(null, entries);
      else callback(null, entries[0].address, entries[0].family);
    }, (error) => callback(error));
  }) as never;
}
