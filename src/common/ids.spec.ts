import { createHash } from "node:crypto";
import { deterministicEventId, randomBase62 } from "./ids.ts";

/** The id as node:crypto's SHA-1 gives it: what every event id stored so far was made with. */
function referenceId(namespace: string, key: string): string {
  const hash = createHash("sha1").update(namespace).update("\u0000").update(key).digest();
  hash[6] = (hash[6] & 0x0f) | 0x50;
  hash[8] = (hash[8] & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${
    hex.slice(20, 32)
  }`;
}

describe("deterministicEventId", () => {
  it("is node:crypto's SHA-1 id for keys of every length around the block edges", () => {
    // 0 to 300 bytes crosses the one-block (55), two-block and reused-buffer (247) limits.
    for (let length = 0; length <= 300; length++) {
      const key = "k".repeat(length);
      expect(deterministicEventId("inference", key)).toBe(referenceId("inference", key));
    }
  });

  it("encodes keys as UTF-8 as node does, lone surrogates included", () => {
    const keys = ["inf_é", "ledger:账户", "emoji 🎉", "lone \ud800 surrogate", "\u0000", ""];
    for (const key of keys) {
      expect(deterministicEventId("ns", key)).toBe(referenceId("ns", key));
    }
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
    for (let run = 0; run < 500; run++) {
      let key = "";
      for (let i = next() % 120; i > 0; i--) key += String.fromCharCode(next() % 0x10000);
      expect(deterministicEventId(`ns${run % 5}`, key)).toBe(referenceId(`ns${run % 5}`, key));
    }
  });

  it("keeps an id stored before this implementation unchanged", () => {
    expect(deterministicEventId("inference", "inf_abc")).toBe(
      "e62f19ad-8629-5c55-9f63-fba32ef2b5bd",
    );
  });
});

describe("randomBase62", () => {
  it("gives ids of the asked length over the base62 alphabet, none repeated", () => {
    const seen = new Set<string>();
    // Enough ids to draw the random pool empty several times over.
    for (let i = 0; i < 2_000; i++) {
      const id = randomBase62(24);
      expect(id).toMatch(/^[0-9A-Za-z]{24}$/);
      seen.add(id);
    }
    expect(seen.size).toBe(2_000);
  });

  it("uses every character about equally", () => {
    const counts = new Map<string, number>();
    for (const char of randomBase62(62_000)) counts.set(char, (counts.get(char) ?? 0) + 1);
    expect(counts.size).toBe(62);
    for (const count of counts.values()) {
      expect(count).toBeGreaterThan(700);
      expect(count).toBeLessThan(1_300);
    }
  });
});
