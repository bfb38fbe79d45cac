import { FallbackRateLimitStorage } from "./fallback.storage.ts";
import { MemoryThrottlerStorage } from "./memory-throttler.storage.ts";
import type { RateLimitStorage } from "./rate-limit.storage.ts";

/** A shared store that is down until `up` is set, then counts in its own memory. */
function flakyStorage() {
  const behind = new MemoryThrottlerStorage();
  const state = { up: false, calls: 0 };
  const call = <T>(work: () => Promise<T>): Promise<T> => {
    state.calls++;
    return state.up ? work() : Promise.reject(new Error("ECONNREFUSED"));
  };
  const storage: RateLimitStorage = {
    increment: (...args) => call(() => behind.increment(...args)),
    claimAttempt: (key, policy) => call(() => behind.claimAttempt(key, policy)),
    forgetAttempts: (key) => call(() => behind.forgetAttempts(key)),
  };
  return { storage, state };
}

describe("FallbackRateLimitStorage", () => {
  const policy = { freeAttempts: 1, baseDelayMs: 1_000, maxDelayMs: 4_000, forgetAfterMs: 60_000 };

  it("counts in memory while the shared store fails, so a limit still holds", async () => {
    const { storage, state } = flakyStorage();
    const limiter = new FallbackRateLimitStorage(storage);
    const blocked = [];
    for (let hit = 0; hit < 4; hit++) {
      blocked.push((await limiter.increment("auth:ip", 60_000, 2, 60_000, "default")).isBlocked);
    }
    expect(blocked).toEqual([false, false, true, true]);
    expect(await limiter.claimAttempt("login:x", policy)).toBe(0);
    expect(await limiter.claimAttempt("login:x", policy)).toBeGreaterThan(0);
    expect(state.calls).toBe(6);
  });

  it("uses the shared store again once it answers, and forgets a success in both", async () => {
    const { storage, state } = flakyStorage();
    const limiter = new FallbackRateLimitStorage(storage);
    expect(await limiter.claimAttempt("login:x", policy)).toBe(0);
    state.up = true;
    expect(await limiter.claimAttempt("login:x", policy)).toBe(0);
    expect(await limiter.claimAttempt("login:x", policy)).toBeGreaterThan(0);
    await limiter.forgetAttempts("login:x");
    expect(await limiter.claimAttempt("login:x", policy)).toBe(0);
    state.up = false;
    // The attempt counted in memory during the outage was forgotten by the success too.
    expect(await limiter.claimAttempt("login:x", policy)).toBe(0);
  });
});
