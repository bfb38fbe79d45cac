import { Buffer } from "node:buffer";
import { createHash, randomBytes, scrypt, timingSafeEqual } from "node:crypto";
import { randomBase62 } from "../common/ids.ts";

/** API keys: `mp_live_` + 40 base62 characters (≈238 bits). */
export const API_KEY_PREFIX = "mp_live_";
const API_KEY_SECRET_LENGTH = 40;
/** Session tokens: `mp_sess_` + 43 base62 characters (≈256 bits). */
export const SESSION_TOKEN_PREFIX = "mp_sess_";
const SESSION_SECRET_LENGTH = 43;

const API_KEY_SHAPE = /^mp_live_[0-9A-Za-z]{32,128}$/;
const SESSION_TOKEN_SHAPE = /^mp_sess_[0-9A-Za-z]{32,128}$/;

export function newApiKey(): string {
  return API_KEY_PREFIX + randomBase62(API_KEY_SECRET_LENGTH);
}

export function newSessionToken(): string {
  return SESSION_TOKEN_PREFIX + randomBase62(SESSION_SECRET_LENGTH);
}

/** What may be shown of a key: `mp_live_` + the first 4 characters of its secret part. */
export function apiKeyDisplayPrefix(key: string): string {
  return key.slice(0, API_KEY_PREFIX.length + 4);
}

export function credentialKind(token: string): "api_key" | "session" | undefined {
  if (API_KEY_SHAPE.test(token)) return "api_key";
  if (SESSION_TOKEN_SHAPE.test(token)) return "session";
  return undefined;
}

export function sha256Hex(value: string): string {
  return createHash("sha256").update(value, "utf8").digest("hex");
}

/** Equal-length hex digests compared in constant time. */
export function digestsEqual(leftHex: string, rightHex: string): boolean {
  const left = Buffer.from(leftHex, "hex");
  const right = Buffer.from(rightHex, "hex");
  return left.length === right.length && left.length > 0 && timingSafeEqual(left, right);
}

// scrypt, memory-hard: N=2^15, r=8 → 32 MiB and ~50 ms per hash here. The parameters are stored
// in each hash, so raising them later only affects new passwords.
const SCRYPT_N = 1 << 15;
const SCRYPT_R = 8;
const SCRYPT_P = 1;
const SCRYPT_KEY_LENGTH = 32;

function scryptAsync(
  password: string,
  salt: Buffer,
  n: number,
  r: number,
  p: number,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(
      password.normalize("NFKC"),
      salt,
      SCRYPT_KEY_LENGTH,
      { N: n, r, p, maxmem: 256 * n * r + 1024 * 1024 },
      (error, derived) => (error ? reject(error) : resolve(derived)),
    );
  });
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const derived = await scryptAsync(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P);
  return [
    "scrypt",
    SCRYPT_N,
    SCRYPT_R,
    SCRYPT_P,
    salt.toString("base64"),
    derived.toString("base64"),
  ]
    .join("$");
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split("$");
  if (scheme !== "scrypt" || !salt || !hash) return false;
  const expected = Buffer.from(hash, "base64");
  const derived = await scryptAsync(
    password,
    Buffer.from(salt, "base64"),
    Number(n),
    Number(r),
    Number(p),
  );
  return derived.length === expected.length && timingSafeEqual(derived, expected);
}

/** A fixed hash to verify against when no account matches, so timing does not reveal which emails exist. */
let decoyHash: Promise<string> | undefined;
export function decoyPasswordHash(): Promise<string> {
  decoyHash ??= hashPassword(randomBase62(24));
  return decoyHash;
}

/** Trimmed, NFC, lower-cased: the form in which emails are unique. */
export function normaliseEmail(email: string): string {
  return email.normalize("NFC").trim().toLowerCase();
}

export function emailHash(normalisedEmail: string): string {
  return sha256Hex(`email:${normalisedEmail}`);
}
