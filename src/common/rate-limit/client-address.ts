import { isIP } from "node:net";

/**
 * The rate-limit tracker for a client address. IPv4 addresses count one by one. An IPv6 client
 * usually holds a whole /64 (the smallest prefix a site is given), so every address inside one
 * /64 shares one counter; otherwise rotating the low 64 bits would give unlimited budgets.
 * IPv4-mapped IPv6 (`::ffff:a.b.c.d`) is the IPv4 address.
 */
export function clientTracker(address: string | undefined): string {
  if (!address) return "unknown";
  if (!address.includes(":")) return address;
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  if (mapped) return mapped[1];
  const withoutZone = address.split("%")[0];
  if (isIP(withoutZone) !== 6) return address;
  return `${ipv6Prefix64(withoutZone)}::/64`;
}

/** The first four groups of an IPv6 address, expanded and without leading zeros. */
function ipv6Prefix64(address: string): string {
  const text = address.toLowerCase();
  const [head, tail] = text.split("::");
  const groupsOf = (part: string | undefined) =>
    part ? part.split(":").flatMap((group) => group.includes(".") ? ["0", "0"] : [group]) : [];
  const headGroups = groupsOf(head);
  const tailGroups = groupsOf(tail);
  const groups = tail === undefined
    ? headGroups
    : [...headGroups, ...Array(8 - headGroups.length - tailGroups.length).fill("0"), ...tailGroups];
  return groups.slice(0, 4).map((group) => parseInt(group, 16).toString(16)).join(":");
}
