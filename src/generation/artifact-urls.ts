import { Buffer } from "node:buffer";
import { createHmac, timingSafeEqual } from "node:crypto";
import type { SecretBox } from "../security/secret-box.ts";

/** The HKDF purpose of the link-signing key: never the secret box's encryption key itself. */
const KEY_PURPOSE = "artifact-urls";
/** Expiries are rounded up to this, so links to one file stay identical (cacheable) for a minute. */
const EXPIRY_STEP_S = 60;
/** Unix seconds, at most 12 digits (year 33658): no client-chosen number of unbounded size. */
const EXPIRES = /^\d{1,12}$/;
/** base64url of a 32-byte HMAC-SHA256. */
const SIGNATURE = /^[A-Za-z0-9_-]{43}$/;

export type SignatureCheck = "valid" | "invalid" | "expired";

/**
 * Signed, expiring artifact links: `?expires=<unix s>&signature=<base64url HMAC-SHA256(key,
 * "<id>.<expires>")>`, so `<img src>`, `<video src>` and a plain download work without an
 * Authorization header, while the header path keeps working. The key is derived from the
 * secrets key (SECRETS_KEY / its file / DATA_DIR/secrets.key), so every instance sharing that
 * key accepts the others' links and it can never be configured empty.
 */
export class ArtifactUrlSigner {
  constructor(private readonly key: Buffer, private readonly ttlSeconds: number) {}

  static fromSecretBox(box: SecretBox, ttlSeconds: number): ArtifactUrlSigner {
    return new ArtifactUrlSigner(box.derivedKey(KEY_PURPOSE), ttlSeconds);
  }

  /** `/api/v1/artifacts/<id>?expires=…&signature=…`, valid for ARTIFACT_URL_TTL_S from `now`. */
  signedPath(artifactId: string, now: Date): string {
    const earliest = Math.floor(now.getTime() / 1000) + this.ttlSeconds;
    const expires = Math.ceil(earliest / EXPIRY_STEP_S) * EXPIRY_STEP_S;
    const query = new URLSearchParams({
      expires: String(expires),
      signature: this.sign(artifactId, String(expires)),
    });
    return `/api/v1/artifacts/${encodeURIComponent(artifactId)}?${query}`;
  }

  /** The signature first (so only a genuine link learns it expired), then the expiry. */
  check(artifactId: string, expires: unknown, signature: unknown, now: Date): SignatureCheck {
    if (typeof expires !== "string" || typeof signature !== "string") return "invalid";
    if (!EXPIRES.test(expires) || !SIGNATURE.test(signature)) return "invalid";
    const expected = Buffer.from(this.sign(artifactId, expires), "utf8");
    const given = Buffer.from(signature, "utf8");
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return "invalid";
    return Number(expires) * 1000 <= now.getTime() ? "expired" : "valid";
  }

  private sign(artifactId: string, expires: string): string {
    return createHmac("sha256", this.key).update(`${artifactId}.${expires}`, "utf8")
      .digest("base64url");
  }
}
