import { Buffer } from "node:buffer";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import type { LookupAddress } from "node:dns";
import { Readable } from "node:stream";
import { type HostResolver, isPrivateAddress, systemResolver } from "../../security/ssrf-guard.ts";

/** Raised when an account-supplied host resolves to an address the SSRF rules refuse. */
export class ForbiddenUpstreamAddress extends Error {
  override readonly name = "ForbiddenUpstreamAddress";
}

/**
 * fetch-like transport for account-supplied upstreams: the host is resolved, every address
 * checked, and the socket connects to the checked address (a custom `lookup`), so a DNS answer
 * that changes between the check and the connect (rebinding) cannot reach a private address.
 * Redirects are never followed (node:http does not): the caller sees the 3xx.
 */
export function guardedFetch(
  url: string,
  init: {
    method: string;
    headers: Record<string, string>;
    body?: string;
    signal: AbortSignal;
    /** Called once the TCP (and TLS) connection is up: the connect timeout stops there. */
    onConnect?: () => void;
    /** Connect to private addresses too (ALLOW_PRIVATE_UPSTREAMS, an operator-trusted host). */
    allowPrivate?: boolean;
    /** How the host is resolved; the system resolver unless a test pins the answer. */
    resolve?: HostResolver;
  },
): Promise<Response> {
  const target = new URL(url);
  const request = target.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise<Response>((resolve, reject) => {
    const req = request(target, {
      method: init.method,
      headers: init.body === undefined
        ? init.headers
        : { ...init.headers, "content-length": String(Buffer.byteLength(init.body)) },
      signal: init.signal,
      lookup:
        ((hostname: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
          (init.resolve ?? systemResolver)(hostname).then((addresses) => {
            const refused = init.allowPrivate ? undefined : addresses.find(isPrivateAddress);
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
        }) as never,
    }, (res) => {
      const headers = new Headers();
      for (const [name, value] of Object.entries(res.headers)) {
        if (Array.isArray(value)) { for (const item of value) headers.append(name, item); }
        else if (value !== undefined) headers.set(name, value);
      }
      const status = res.statusCode ?? 502;
      const body = status === 204 || status === 304
        ? null
        : Readable.toWeb(res) as ReadableStream<Uint8Array>;
      resolve(new Response(body, { status, headers }));
    });
    req.on("error", reject);
    req.on("socket", (socket) => {
      const connected = () => init.onConnect?.();
      if (!socket.connecting) connected();
      else socket.once(target.protocol === "https:" ? "secureConnect" : "connect", connected);
    });
    // Literal IPs skip `lookup`: check them here.
    const host = target.hostname.replace(/^\[|\]$/g, "");
    if (!init.allowPrivate && /^[\d.]+$|:/.test(host) && isPrivateAddress(host)) {
      req.destroy(new ForbiddenUpstreamAddress("upstream address is forbidden"));
      return;
    }
    req.end(init.body);
  });
}
