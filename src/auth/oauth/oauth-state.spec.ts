import { Buffer } from "node:buffer";
import { type OAuthPending, openPending, sealPending } from "./oauth-state.ts";

const key = Buffer.alloc(32, 7);
const pending: OAuthPending = {
  provider: "oidc",
  state: "state-1",
  codeVerifier: "verifier-1",
  nonce: "nonce-1",
  redirectUri: "https://gateway.example/api/auth/oauth/oidc/callback",
  expiresAt: 10_000,
};

test("opens what it sealed until it expires", () => {
  const cookie = sealPending(key, pending);
  expect(openPending(key, cookie, 9_999)).toEqual(pending);
  expect(openPending(key, cookie, 10_000)).toBeUndefined();
});

test("refuses a cookie sealed with another key", () => {
  expect(openPending(Buffer.alloc(32, 8), sealPending(key, pending), 0)).toBeUndefined();
});

test("refuses an altered payload or signature", () => {
  const [payload, signature] = sealPending(key, pending).split(".");
  const altered = Buffer.from(
    JSON.stringify({ ...pending, redirectUri: "https://attacker.example/cb" }),
  ).toString("base64url");
  expect(openPending(key, `${altered}.${signature}`, 0)).toBeUndefined();
  expect(openPending(key, `${payload}.${signature.slice(1)}A`, 0)).toBeUndefined();
});

test("refuses missing, malformed and oversized cookies", () => {
  for (const cookie of [undefined, "", ".", "a.b.c", "no-dot", "x".repeat(5000)]) {
    expect(openPending(key, cookie, 0)).toBeUndefined();
  }
});

test("refuses a well-signed payload of the wrong shape", () => {
  const sealed = sealPending(key, { ...pending, state: 42 } as unknown as OAuthPending);
  expect(openPending(key, sealed, 0)).toBeUndefined();
});
