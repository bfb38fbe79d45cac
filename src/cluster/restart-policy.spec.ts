import { RestartPolicy } from "./restart-policy.ts";

describe("RestartPolicy: when a dead worker is restarted, and when the cluster stops", () => {
  it("restarts a worker dying soon after start after 0.5 s, doubling up to 30 s", () => {
    const policy = new RestartPolicy();
    const delays: number[] = [];
    // Deaths 2 minutes apart: never more than one in the window, so the backoff alone shows.
    for (let death = 0; death < 9; death++) {
      const now = death * 120_000 + 1_000;
      const decision = policy.onDeath(now - 1_000, now);
      if (!decision.restart) throw new Error(`gave up at death ${death}`);
      delays.push(decision.inMs);
    }
    expect(delays).toEqual([500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000]);
  });

  it("starts the backoff afresh for a worker that stayed up 30 s", () => {
    const policy = new RestartPolicy();
    policy.onDeath(0, 1_000);
    policy.onDeath(2_000, 3_000);
    expect(policy.onDeath(100_000, 130_000)).toEqual({ restart: true, inMs: 500 });
  });

  it("stops the cluster at the sixth death within a minute, naming the count", () => {
    const policy = new RestartPolicy();
    const decisions = Array.from({ length: 6 }, (_, death) => {
      const now = death * 5_000;
      return policy.onDeath(now - 100, now);
    });
    expect(decisions.slice(0, 5).every((decision) => decision.restart)).toBe(true);
    expect(decisions[5]).toEqual({ restart: false, deaths: 6, windowMs: 60_000 });
  });

  it("forgets deaths older than a minute", () => {
    const policy = new RestartPolicy();
    for (let death = 0; death < 5; death++) policy.onDeath(death * 1_000, death * 1_000 + 500);
    // The sixth death comes after the first five have left the window.
    expect(policy.onDeath(70_000, 70_500).restart).toBe(true);
  });
});
