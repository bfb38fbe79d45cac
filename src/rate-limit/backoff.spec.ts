import { type BackoffPolicy, type BackoffRecord, decideAttempt } from "./backoff.ts";

const policy: BackoffPolicy = {
  freeAttempts: 3,
  baseDelayMs: 1_000,
  maxDelayMs: 8_000,
  forgetAfterMs: 60_000,
};

describe("decideAttempt", () => {
  it("lets the free attempts through, then doubles the wait up to the cap", () => {
    let record: BackoffRecord | undefined;
    let now = 1_000_000;
    const waits: number[] = [];
    for (let attempt = 0; attempt < 8; attempt++) {
      const refused = decideAttempt(record, now, policy);
      if (refused.waitMs > 0) {
        waits.push(refused.waitMs);
        now += refused.waitMs;
      }
      const decided = decideAttempt(record, now, policy);
      expect(decided.waitMs).toBe(0);
      record = decided.next;
    }
    expect(waits).toEqual([1_000, 2_000, 4_000, 8_000, 8_000]);
    expect(record!.attempts).toBe(8);
  });

  it("does not count an attempt refused for waiting", () => {
    const record = { attempts: 3, lastAttemptAt: 1_000 };
    expect(decideAttempt(record, 1_500, policy)).toEqual({ waitMs: 500 });
    expect(decideAttempt(record, 2_000, policy).next).toEqual({
      attempts: 4,
      lastAttemptAt: 2_000,
    });
  });

  it("forgets a key left alone for its delay plus the forget period", () => {
    const record = { attempts: 6, lastAttemptAt: 0 };
    expect(decideAttempt(record, 8_000 + 59_999, policy).next?.attempts).toBe(7);
    expect(decideAttempt(record, 8_000 + 60_000, policy).next?.attempts).toBe(1);
  });
});
