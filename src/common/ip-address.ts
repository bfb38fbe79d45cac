/**
 * Textual IPv6 addresses as bytes, for the two places that judge a client's or an upstream's
 * address: the rate limiter's /64 grouping and the SSRF guard. One parser, so both read
 * `::`, a dotted IPv4 tail and a zone the same way.
 */

/** The 16 bytes of a textual IPv6 address (with `::` and an optional dotted IPv4 tail). */
export function ipv6Bytes(address: string): number[] | undefined {
  let text = address.toLowerCase();
  const zone = text.indexOf("%");
  if (zone !== -1) text = text.slice(0, zone);
  const tail: number[] = [];
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const parts = dotted.slice(1).map(Number);
    if (parts.some((part) => part > 255)) return undefined;
    tail.push((parts[0] << 8) | parts[1], (parts[2] << 8) | parts[3]);
    text = text.slice(0, dotted.index) + "0:0";
  }
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(":") : [];
  const rest = halves.length === 2 && halves[1] ? halves[1].split(":") : [];
  const groups = halves.length === 2
    ? [...head, ...Array(8 - head.length - rest.length).fill("0"), ...rest]
    : head;
  if (groups.length !== 8) return undefined;
  const words = groups.map((group) => parseInt(group, 16));
  if (tail.length) words.splice(6, 2, ...tail);
  if (words.some((word) => !(word >= 0 && word <= 0xffff))) return undefined;
  return words.flatMap((word) => [word >> 8, word & 0xff]);
}

/** The IPv4 address inside IPv4-mapped IPv6 (`::ffff:a.b.c.d`), as sockets report plain IPv4. */
export function ipv4MappedAddress(bytes: readonly number[]): string | undefined {
  const mapped = bytes.slice(0, 10).every((byte) => byte === 0) && bytes[10] === 0xff &&
    bytes[11] === 0xff;
  return mapped ? bytes.slice(12).join(".") : undefined;
}
