import { Buffer } from "node:buffer";
import { ArtifactUrlSigner } from "./artifact-urls.ts";

const NOW = new Date("2026-05-01T10:00:30.000Z");

function parts(path: string) {
  const url = new URL(path, "http://x");
  return {
    id: decodeURIComponent(url.pathname.split("/").pop()!),
    expires: url.searchParams.get("expires")!,
    signature: url.searchParams.get("signature")!,
  };
}

describe("signed artifact URLs", () => {
  const signer = new ArtifactUrlSigner(Buffer.alloc(32, 7), 3600);

  it("signs id and expiry, valid until the expiry, rounded up to the minute", () => {
    const link = parts(signer.signedPath("gen_a_0.png", NOW));
    expect(Number(link.expires)).toBe(Date.parse("2026-05-01T11:01:00.000Z") / 1000);
    expect(signer.check(link.id, link.expires, link.signature, NOW)).toBe("valid");
    const justBefore = new Date(Number(link.expires) * 1000 - 1);
    expect(signer.check(link.id, link.expires, link.signature, justBefore)).toBe("valid");
    const atExpiry = new Date(Number(link.expires) * 1000);
    expect(signer.check(link.id, link.expires, link.signature, atExpiry)).toBe("expired");
  });

  it("refuses another id, another expiry, another key, and malformed values", () => {
    const link = parts(signer.signedPath("gen_a_0.png", NOW));
    expect(signer.check("gen_a_1.png", link.expires, link.signature, NOW)).toBe("invalid");
    expect(signer.check(link.id, String(Number(link.expires) + 60), link.signature, NOW))
      .toBe("invalid");
    const other = new ArtifactUrlSigner(Buffer.alloc(32, 8), 3600);
    expect(other.check(link.id, link.expires, link.signature, NOW)).toBe("invalid");
    for (
      const [expires, signature] of [
        [undefined, link.signature],
        [link.expires, undefined],
        [[link.expires], link.signature],
        ["-1", link.signature],
        ["1e12", link.signature],
        ["9".repeat(13), link.signature],
        [link.expires, `${link.signature}A`],
        [link.expires, link.signature.replace(/./, "+")],
      ]
    ) {
      expect(signer.check(link.id, expires, signature, NOW)).toBe("invalid");
    }
  });

  it("says expired only for a genuine link", () => {
    const old = parts(signer.signedPath("gen_a_0.png", new Date(NOW.getTime() - 7200_000)));
    expect(signer.check(old.id, old.expires, old.signature, NOW)).toBe("expired");
    const forged = old.signature.startsWith("A")
      ? `B${old.signature.slice(1)}`
      : `A${old.signature.slice(1)}`;
    expect(signer.check(old.id, old.expires, forged, NOW)).toBe("invalid");
  });
});
