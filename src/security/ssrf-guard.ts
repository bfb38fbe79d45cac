import { lookup } from "node:dns/promises";
import { BlockList, isIP } from "node:net";
import { ApiError } from "../common/api-error.ts";
import { ipv4MappedAddress, ipv6Bytes } from "../common/ip-address.ts";

/**
 * Server-side request forgery guard for account-supplied upstream URLs (and worker output
 * downloads). Refuses loopback, private, link-local, CGNAT, multicast, reserved and cloud
 * metadata addresses unless private upstreams are allowed (ALLOW_PRIVATE_UPSTREAMS=true, e.g. a
 * LAN Ollama or the tests). The check runs on every resolved address at registration and again
 * before each request, and the caller connects to the address that was checked (no DNS
 * rebinding window).
 *
 * IPv6 is allow-listed rather than block-listed: only global unicast (2000::/3) passes, minus
 * the special-purpose blocks inside it, so every form that embeds an IPv4 address (IPv4-compatible
 * `::a.b.c.d`, SIIT `::ffff:0:a.b.c.d`, NAT64 `64:ff9b::/96` and `64:ff9b:1::/48`, 6to4, Teredo)
 * is refused whatever IPv4 address it carries. IPv4-mapped `::ffff:a.b.c.d` is the one exception:
 * sockets use it for plain IPv4, so it is judged as the IPv4 address it is.
 */
const blocked = new BlockList();
for (
  const [network, prefix] of [
    ["0.0.0.0", 8], // "this network"
    ["10.0.0.0", 8],
    ["100.64.0.0", 10], // CGNAT
    ["127.0.0.0", 8],
    ["169.254.0.0", 16], // link-local, incl. 169.254.169.254 metadata
    ["172.16.0.0", 12],
    ["192.0.0.0", 24], // IETF protocol assignments
    ["192.0.2.0", 24], // documentation
    ["192.88.99.0", 24], // 6to4 relay anycast (deprecated): relays into IPv6 space
    ["192.168.0.0", 16],
    ["198.18.0.0", 15], // benchmarking
    ["198.51.100.0", 24], // documentation
    ["203.0.113.0", 24], // documentation
    ["224.0.0.0", 4], // multicast
    ["240.0.0.0", 4], // reserved + broadcast
  ] as const
) blocked.addSubnet(network, prefix, "ipv4");

/** Special-purpose blocks inside 2000::/3 (IANA IPv6 special-purpose registry). */
const blockedGlobalV6: Array<[bytes: number[], prefix: number]> = [
  [[0x20, 0x01, 0x00, 0x00], 23], // IETF protocol assignments, incl. Teredo 2001::/32, ORCHID
  [[0x20, 0x01, 0x0d, 0xb8], 32], // documentation
  [[0x20, 0x02], 16], // 6to4: embeds an IPv4 address
  [[0x3f, 0xff, 0x00], 20], // documentation (RFC 9637)
];

/** True when `address` is not a public unicast address. */
export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return blocked.check(address, "ipv4");
  if (family !== 6) return true;
  const bytes = ipv6Bytes(address);
  if (!bytes) return true;
  const mapped = ipv4MappedAddress(bytes);
  if (mapped) return blocked.check(mapped, "ipv4");
  if ((bytes[0] & 0xe0) !== 0x20) return true; // outside global unicast 2000::/3
  return blockedGlobalV6.some(([network, prefix]) => inPrefix(bytes, network, prefix));
}

function inPrefix(bytes: number[], network: number[], prefix: number): boolean {
  for (let bit = 0; bit < prefix; bit += 8) {
    const mask = prefix - bit >= 8 ? 0xff : (0xff << (8 - (prefix - bit))) & 0xff;
    const index = bit / 8;
    if ((bytes[index] & mask) !== ((network[index] ?? 0) & mask)) return false;
  }
  return true;
}

export interface CheckedUrl {
  url: URL;
  /** The resolved addresses that passed the check. */
  addresses: string[];
}

export type HostResolver = (hostname: string) => Promise<string[]>;

export const systemResolver: HostResolver = async (hostname) =>
  (await lookup(hostname, { all: true, verbatim: true })).map((entry) => entry.address);

/**
 * Parses and checks an upstream base URL: http(s) only, no credentials in the URL, and every
 * address the host resolves to public (unless `allowPrivate`). Throws a 400 naming `param`.
 */
export async function checkUpstreamUrl(
  raw: string,
  options: { allowPrivate: boolean; param?: string; resolve?: HostResolver },
): Promise<CheckedUrl> {
  const param = options.param ?? "base_url";
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw ApiError.badRequest(`Invalid '${param}': not a valid URL.`, param, "invalid_url");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw ApiError.badRequest(
      `Invalid '${param}': only http and https URLs are allowed.`,
      param,
      "invalid_url",
    );
  }
  if (url.username || url.password) {
    throw ApiError.badRequest(
      `Invalid '${param}': credentials in the URL are not allowed; pass api_key instead.`,
      param,
      "invalid_url",
    );
  }
  const hostname = url.hostname.replace(/^\[|\]$/g, "");
  let addresses: string[];
  if (isIP(hostname)) addresses = [hostname];
  else {
    try {
      addresses = await (options.resolve ?? systemResolver)(hostname);
    } catch {
      throw ApiError.badRequest(
        `Invalid '${param}': the host '${hostname}' does not resolve.`,
        param,
        "invalid_url",
      );
    }
  }
  if (addresses.length === 0) {
    throw ApiError.badRequest(
      `Invalid '${param}': the host '${hostname}' does not resolve.`,
      param,
      "invalid_url",
    );
  }
  if (!options.allowPrivate && addresses.some(isPrivateAddress)) {
    throw ApiError.badRequest(
      `Invalid '${param}': upstreams on loopback, private, link-local or metadata addresses are ` +
        "not allowed (set ALLOW_PRIVATE_UPSTREAMS=true to allow them on a trusted network).",
      param,
      "upstream_address_forbidden",
    );
  }
  return { url, addresses };
}
