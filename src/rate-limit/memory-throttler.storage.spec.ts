import { MemoryThrottlerStorage } from "./memory-throttler.storage.ts";

describe("MemoryThrottlerStorage", () => {
  let now: number;
  const storage = () => new MemoryThrottlerStorage(() => now);

  beforeEach(() => {
    now = 1_000_000;
  });

  it("counts hits in a fixed window and blocks past the limit until the window ends", async () => {
    const limiter = storage();
    for (let hit = 1; hit <= 3; hit++) {
      expect(await limiter.increment("ip", 60_000, 3, 60_000, "default")).toEqual({
        totalHits: hit,
        timeToExpire: 60,
        isBlocked: false,
        timeToBlockExpire: 0,
      });
    }
    now += 45_500;
    expect(await limiter.increment("ip", 60_000, 3, 60_000, "default")).toEqual({
      totalHits: 4,
      timeToExpire: 15,
      isBlocked: true,
      timeToBlockExpire: 15,
    });
    now += 14_500;
    expect(await limiter.increment("ip", 60_000, 3, 60_000, "default")).toMatchObject({
      totalHits: 1,
      isBlocked: false,
    });
  });

  it("keeps one counter per key", async () => {
    const limiter = storage();
    await limiter.increment("a", 60_000, 1, 60_000, "default");
    expect((await limiter.increment("a", 60_000, 1, 60_000, "default")).isBlocked).toBe(true);
    expect((await limiter.increment("b", 60_000, 1, 60_000, "default")).isBlocked).toBe(false);
  });

  it("costs the same whatever the limit: a million hits are one counter", async () => {
    const limiter = storage();
    const started = performance.now();
    for (let hit = 0; hit < 200_000; hit++) {
      await limiter.increment("ip", 60_000, 1_000_000, 60_000, "default");
    }
    expect((await limiter.increment("ip", 60_000, 1_000_000, 60_000, "default")).totalHits).toBe(
      200_001,
    );
    // The sliding-log storage this replaces filtered every earlier hit on every request.
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it("holds at most its bound of counters, dropping the least recently started", async () => {
    const limiter = new MemoryThrottlerStorage(() => now, 1_000);
    await limiter.increment("first", 60_000, 1, 60_000, "default");
    for (let client = 0; client < 5_000; client++) {
      await limiter.increment(`client-${client}`, 60_000, 1, 60_000, "default");
    }
    expect(limiter.size).toBeLessThanOrEqual(1_000);
    // The newest clients are still counted; the first one was dropped.
    expect((await limiter.increment("client-4999", 60_000, 1, 60_000, "default")).isBlocked)
      .toBe(true);
    expect((await limiter.increment("first", 60_000, 1, 60_000, "default")).totalHits).toBe(1);
  });

  it("keeps growing-delay records per key and forgets one on success", async () => {
    const limiter = storage();
    const policy = {
      freeAttempts: 2,
      baseDelayMs: 1_000,
      maxDelayMs: 4_000,
      forgetAfterMs: 60_000,
    };
    expect(await limiter.claimAttempt("email", policy)).toBe(0);
    expect(await limiter.claimAttempt("email", policy)).toBe(0);
    expect(await limiter.claimAttempt("email", policy)).toBe(1_000);
    expect(await limiter.claimAttempt("other", policy)).toBe(0);
    now += 1_000;
    expect(await limiter.claimAttempt("email", policy)).toBe(0);
    expect(await limiter.claimAttempt("email", policy)).toBe(2_000);
    await limiter.forgetAttempts("email");
    expect(await limiter.claimAttempt("email", policy)).toBe(0);
  });
});
