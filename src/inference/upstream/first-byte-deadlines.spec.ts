import { FirstByteDeadlines } from "./first-byte-deadlines.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("FirstByteDeadlines", () => {
  it("expires each unsettled deadline, not before its timeout, and never a settled one", async () => {
    const deadlines = new FirstByteDeadlines(40);
    const expired: Array<{ name: string; afterMs: number }> = [];
    const start = (name: string) => {
      const started = performance.now();
      return deadlines.start(() => expired.push({ name, afterMs: performance.now() - started }));
    };
    start("first");
    await sleep(10);
    const second = start("second");
    await sleep(10);
    start("third");
    deadlines.settle(second);
    await sleep(120);
    expect(expired.map((entry) => entry.name)).toEqual(["first", "third"]);
    // Timers may fire up to a millisecond early by the performance clock; never a whole tick.
    for (const entry of expired) expect(entry.afterMs).toBeGreaterThanOrEqual(39);
  });

  it("times a deadline started after the earlier ones settled from its own start", async () => {
    const deadlines = new FirstByteDeadlines(60);
    let expiredAfter = -1;
    deadlines.settle(deadlines.start(() => (expiredAfter = 0)));
    await sleep(30);
    const started = performance.now();
    deadlines.start(() => (expiredAfter = performance.now() - started));
    await sleep(40);
    expect(expiredAfter).toBe(-1);
    await sleep(80);
    expect(expiredAfter).toBeGreaterThanOrEqual(59);
  });

  it("keeps the calls in flight across a queue compacted many times", async () => {
    const deadlines = new FirstByteDeadlines(50);
    const expired = new Set<number>();
    const open = new Map<number, ReturnType<typeof deadlines.start>>();
    // Settled mostly in order, some held: the head passes thousands of settled entries.
    for (let call = 0; call < 5_000; call++) {
      open.set(call, deadlines.start(() => expired.add(call)));
      if (call >= 64 && call % 97 !== 0) {
        deadlines.settle(open.get(call - 64)!);
        open.delete(call - 64);
      }
    }
    await sleep(150);
    expect([...expired].sort((a, b) => a - b)).toEqual([...open.keys()].sort((a, b) => a - b));
  });
});
