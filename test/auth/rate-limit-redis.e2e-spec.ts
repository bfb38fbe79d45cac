import { api, startTestApp, type TestApp } from "../support/test-app.ts";
import { describeWithRedis, type RedisServer, startRedisServer } from "../support/redis-server.ts";

// Runs against a real redis-server when one is installed; skipped (with the reason printed,
// naming the package) where only Node and npm exist.
describeWithRedis("rate limits shared through Redis", () => {
  let redis: RedisServer;
  let first: TestApp;
  let second: TestApp;

  beforeAll(async () => {
    redis = await startRedisServer();
    const env = { REDIS_URL: redis.url, RATE_LIMIT_PER_MINUTE: "6" };
    first = await startTestApp({ env: { ...env, INSTANCE_ID: "first" } });
    second = await startTestApp({ env: { ...env, INSTANCE_ID: "second" } });
  });

  afterAll(async () => {
    await first?.close();
    await second?.close();
    await redis?.stop();
  });

  it("enforces one limit across two instances", async () => {
    const remaining = [];
    for (let index = 0; index < 6; index++) {
      const instance = index % 2 === 0 ? first : second;
      const response = await api(instance.url, "GET", "/api/keys");
      expect(response.status).toBe(401);
      remaining.push(response.headers.get("x-ratelimit-remaining-requests"));
    }
    expect(remaining).toEqual(["5", "4", "3", "2", "1", "0"]);
    for (const instance of [first, second]) {
      const limited = await api(instance.url, "GET", "/api/keys");
      expect(limited.status).toBe(429);
      expect(limited.body.error.code).toBe("rate_limit_exceeded");
      expect(Number(limited.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    }
    // The counter really lives in Redis, with the window's expiry set.
    const keys = await redis.client.keys("modelpilot:ratelimit:*");
    expect(keys).toHaveLength(1);
    const ttl = await redis.client.pttl(keys[0]);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60_000);
  });

  it("shares the per-email login delay across instances", async () => {
    const env = { REDIS_URL: redis.url, LOGIN_FAILURES_BEFORE_DELAY: "2" };
    const third = await startTestApp({ env: { ...env, INSTANCE_ID: "third" } });
    const fourth = await startTestApp({ env: { ...env, INSTANCE_ID: "fourth" } });
    try {
      const login = (instance: TestApp) =>
        api(instance.url, "POST", "/api/auth/login", {
          body: { email: "shared@example.com", password: "wrong-password" },
        });
      expect((await login(third)).status).toBe(401);
      expect((await login(fourth)).status).toBe(401);
      const throttled = await login(third);
      expect(throttled.status).toBe(429);
      expect(throttled.body.error.code).toBe("login_throttled");
      expect((await redis.client.keys("modelpilot:ratelimit:login:*")).length).toBe(1);
    } finally {
      await third.close();
      await fourth.close();
    }
  });
});
