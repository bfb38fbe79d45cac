import { lookup } from "node:dns/promises";
import { BlockList, isIP } from "node:net";
import { ApiError } from "../../common/api-error.ts";

/**
 * Server-side request forgery guard for account-supplied upstream URLs. Refuses loopback,
 * private, link-local, CGNAT, multicast, reserved and cloud metadata addresses unless private
 * upstreams are allowed (ALLOW_PRIVATE_UPSTREAMS=true, e.g. a LAN Ollama or the tests). The
 * check runs on every resolved address at registration and again before each request, and
 * the caller connects to the address that was checked (no DNS rebinding window).
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
    ["192.0.0.0", 24],
    ["192.0.2.0", 24],
    ["192.168.0.0", 16],
    ["198.18.0.0", 15],
    ["198.51.100.0", 24],
    ["203.0.113.0", 24],
    ["224.0.0.0", 4], // multicast
    ["240.0.0.0", 4], // reserved + broadcast
  ] as const
) blocked.addSubnet(network, prefix, "ipv4");
for (
  const [network, prefix] of [
    ["::", 128], // unspecified
    ["::1", 128], // loopback
    ["64:ff9b::", 96], // NAT64 (maps to IPv4, may reach private space)
    ["100::", 64], // discard
    ["2001:db8::", 32], // documentation
    ["fc00::", 7], // unique local, incl. fd00::/8 (AWS metadata fd00:ec2::254)
    ["fe80::", 10], // link-local
    ["fec0::", 10], // site-local (deprecated)
    ["ff00::", 8], // multicast
  ] as const
) blocked.addSubnet(network, prefix, "ipv6");

/** True when `address` is not a public unicast address. */
export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return blocked.check(address, "ipv4");
  if (family === 6) {
    const lower = address.toLowerCase();
    // IPv4-mapped/compatible IPv6 (::ffff:127.0.0.1) is the IPv4 address in disguise.
    const mapped = /^(?:0*:)*(?:ffff:)?(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
    if (mapped) return blocked.check(mapped[1], "ipv4");
    const hexMapped = /^(?:0*:)*ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(lower);
    if (hexMapped) {
      const high = parseInt(hexMapped[1], 16);
      const low = parseInt(hexMapped[2], 16);
      return blocked.check(`${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`, "ipv4");
    }
    return blocked.check(address, "ipv6");
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
