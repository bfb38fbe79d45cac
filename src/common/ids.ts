import { randomUUID } from "node:crypto";

/** The one id generator. Random ids for new things; deterministic ids for idempotent events. */

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

export function newEventId(): string {
  return randomUUID();
}

/** A prefixed random id such as `acct_3fZ…` (base62, 22 chars ≈ 131 bits). */
export function newId(prefix: string, length = 22): string {
  return `${prefix}_${randomBase62(length)}`;
}

/**
 * CSPRNG bytes drawn in blocks and handed out once each, in order: two ids per request each
 * fetching their own few bytes from the runtime cost more than the bytes (node's randomUUID
 * keeps a cache the same way). Each byte is used at most once, so ids stay independent.
 */
const RANDOM_POOL_BYTES = 4096;
let randomPool = new Uint8Array(0);
let randomPoolOffset = 0;

function randomByte(): number {
  if (randomPoolOffset === randomPool.length) {
    randomPool = crypto.getRandomValues(new Uint8Array(RANDOM_POOL_BYTES));
    randomPoolOffset = 0;
  }
  return randomPool[randomPoolOffset++];
}

export function randomBase62(length: number): string {
  // Rejection sampling keeps every character uniformly likely (256 is not a multiple of 62).
  let out = "";
  while (out.length < length) {
    const byte = randomByte();
    if (byte < 248) out += BASE62[byte % 62];
  }
  return out;
}

/**
 * A UUID (version 5 layout, SHA-1) derived from a namespace and an idempotency key: the same
 * command retried yields the same event id, so the event store appends nothing new. The SHA-1
 * is computed here rather than by node:crypto, whose hash object cost 5 µs against 1 µs for
 * these short keys, on every request (the usage event's id); ids.spec.ts holds it to node's.
 */
export function deterministicEventId(namespace: string, key: string): string {
  const words = sha1(`${namespace}\u0000${key}`);
  // Byte 6's high nibble is the version (5), byte 8's top two bits the variant (10).
  const versioned = hex8((words[1] & 0xffff0fff) | 0x5000);
  const variant = hex8((words[2] & 0x3fffffff) | 0x80000000);
  return `${hex8(words[0])}-${versioned.slice(0, 4)}-${versioned.slice(4)}-${variant.slice(0, 4)}-${
    variant.slice(4)
  }${hex8(words[3])}`;
}

const hex8 = (word: number) => (word >>> 0).toString(16).padStart(8, "0");

const UTF8 = new TextEncoder();
/** A message of up to 247 bytes is padded in here; a longer one gets its own buffer. */
const MESSAGE = new Uint8Array(256);
/** The message schedule, then the digest's five words (overwritten by the next call). */
const WORDS = new Int32Array(80);

/**
 * SHA-1 (FIPS 180-4) of `text` as UTF-8, as five 32-bit words in a buffer the next call reuses
 * (one thread, never re-entered). Written out round by round so V8 keeps it in int32 registers:
 * constants over 2^31 are `| 0`.
 */
function sha1(text: string): Int32Array {
  let bytes = MESSAGE;
  const { read, written } = UTF8.encodeInto(text, MESSAGE);
  let length = written;
  if (read < text.length || written + 9 > MESSAGE.length) {
    const encoded = UTF8.encode(text);
    length = encoded.length;
    bytes = new Uint8Array((((length + 8) >> 6) + 1) * 64);
    bytes.set(encoded);
  }
  // The message, a 1 bit, zeros, and its length in bits (big-endian) closing the last block.
  const total = (((length + 8) >> 6) + 1) * 64;
  bytes.fill(0, length, total);
  bytes[length] = 0x80;
  const high = Math.floor(length / 0x20000000);
  const low = (length * 8) >>> 0;
  for (let i = 0; i < 4; i++) {
    bytes[total - 8 + i] = high >>> (24 - 8 * i);
    bytes[total - 4 + i] = low >>> (24 - 8 * i);
  }
  const w = WORDS;
  let h0 = 0x67452301, h1 = 0xefcdab89 | 0, h2 = 0x98badcfe | 0, h3 = 0x10325476;
  let h4 = 0xc3d2e1f0 | 0;
  for (let offset = 0; offset < total; offset += 64) {
    for (let i = 0; i < 16; i++) {
      const at = offset + i * 4;
      w[i] = (bytes[at] << 24) | (bytes[at + 1] << 16) | (bytes[at + 2] << 8) | bytes[at + 3];
    }
    for (let i = 16; i < 80; i++) {
      const x = w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16];
      w[i] = (x << 1) | (x >>> 31);
    }
    let a = h0, b = h1, c = h2, d = h3, e = h4, next = 0;
    for (let i = 0; i < 20; i++) {
      next = (((a << 5) | (a >>> 27)) + ((b & c) | (~b & d)) + e + 0x5a827999 + w[i]) | 0;
      e = d, d = c, c = (b << 30) | (b >>> 2), b = a, a = next;
    }
    for (let i = 20; i < 40; i++) {
      next = (((a << 5) | (a >>> 27)) + (b ^ c ^ d) + e + 0x6ed9eba1 + w[i]) | 0;
      e = d, d = c, c = (b << 30) | (b >>> 2), b = a, a = next;
    }
    for (let i = 40; i < 60; i++) {
      next = (((a << 5) | (a >>> 27)) + ((b & c) | (b & d) | (c & d)) + e + (0x8f1bbcdc | 0) +
        w[i]) | 0;
      e = d, d = c, c = (b << 30) | (b >>> 2), b = a, a = next;
    }
    for (let i = 60; i < 80; i++) {
      next = (((a << 5) | (a >>> 27)) + (b ^ c ^ d) + e + (0xca62c1d6 | 0) + w[i]) | 0;
      e = d, d = c, c = (b << 30) | (b >>> 2), b = a, a = next;
    }
    h0 = (h0 + a) | 0;
    h1 = (h1 + b) | 0;
    h2 = (h2 + c) | 0;
    h3 = (h3 + d) | 0;
    h4 = (h4 + e) | 0;
  }
  w[0] = h0, w[1] = h1, w[2] = h2, w[3] = h3, w[4] = h4;
  return w;
}
