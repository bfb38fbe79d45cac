import { isIP } from "node:net";
import { ipv4MappedAddress, ipv6Bytes } from "../common/ip-address.ts";

/**
 * The rate-limit tracker for a client address. IPv4 addresses count one by one. An IPv6 client
 * usually holds a whole /64 (the smallest prefix a site is given), so every address inside one
 * /64 shares one counter; otherwise rotating the low 64 bits would give unlimited budgets.
 * IPv4-mapped IPv6 (`::ffff:a.b.c.d`) is the IPv4 address.
 */
export function clientTracker(address: string | undefined): string {
  if (!address) return "unknown";
  if (!address.includes(":")) return address;
  // How a dual-stack socket reports an IPv4 client: the common case, answered without parsing.
  if (address.startsWith("::ffff:") && isIP(address.slice(7)) === 4) return address.slice(7);
  const bytes = isIP(address.split("%")[0]) === 6 ? ipv6Bytes(address) : undefined;
  if (!bytes) return address;
  const mapped = ipv4MappedAddress(bytes);
  if (mapped) return mapped;
  // The first four groups, without leading zeros.
  const groups: string[] = [];
  for (let index = 0; index < 8; index += 2) {
    groups.push(((bytes[index] << 8) | bytes[index + 1]).toString(16));
  }
  return `${groups.join(":")}::/64`;
}
