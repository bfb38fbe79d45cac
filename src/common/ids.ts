import { createHash, randomBytes, randomUUID } from "node:crypto";

/** The one id generator. Random ids for new things; deterministic ids for idempotent events. */

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

export function newEventId(): string {
  return randomUUID();
}

/** A prefixed random id such as `acct_3fZ…` (base62, 22 chars ≈ 131 bits). */
export function newId(prefix: string, length = 22): string {
  return `${prefix}_${randomBase62(length)}`;
}

export function randomBase62(length: number): string {
  // Rejection sampling keeps every character uniformly likely (256 is not a multiple of 62).
  let out = "";
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < 248 && out.length < length) out += BASE62[byte % 62];
    }
  }
  return out;
}

/**
 * A UUID (version 5 layout, SHA-1) derived from a namespace and an idempotency key: the same
 * command retried yields the same event id, so the event store appends nothing new.
 */
export function deterministicEventId(namespace: string, key: string): string {
  const hash = createHash("sha1").update(namespace).update("\u0000").update(key).digest();
  hash[6] = (hash[6] & 0x0f) | 0x50;
  hash[8] = (hash[8] & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${
    hex.slice(20, 32)
  }`;
}
