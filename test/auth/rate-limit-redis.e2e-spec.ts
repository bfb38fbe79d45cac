import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { createServer } from "node:http";
import { api, startTestApp, type TestApp } from "../support/test-app.ts";

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function waitForRedis(port: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      const reply = execFileSync("redis-cli", ["-p", String(port), "ping"], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "ignore"],
      });
      if (reply.trim() === "PONG") return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`redis-server did not start on port ${port}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("rate limits shared through Redis", () => {
  let redis: ChildProcess;
  let port: number;
  let first: TestApp;
  let second: TestApp;

  beforeAll(async () => {
    port = await freePort();
    redis = spawn(
      "redis-server",
      ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
      { stdio: "ignore" },
    );
    await waitForRedis(port);
    const env = { REDIS_URL: `redis://127.0.0.1:${port}`, RATE_LIMIT_PER_MINUTE: "6" };
    first = await startTestApp({ env: { ...env, INSTANCE_ID: "first" } });
    second = await startTestApp({ env: { ...env, INSTANCE_ID: "second" } });
  });

  afterAll(async () => {
    await first?.close();
    await second?.close();
    if (redis && redis.exitCode === null) {
      redis.kill("SIGTERM");
      for (
        let waited = 0;
        redis.exitCode === null && redis.signalCode === null && waited < 5_000;
        waited += 20
      ) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
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
    const keys = execFileSync("redis-cli", [
      "-p",
      String(port),
      "--scan",
      "--pattern",
      "modelpilot:ratelimit:*",
    ], {
      encoding: "utf8",
    }).trim().split("\n");
    expect(keys).toHaveLength(1);
    const ttl = Number(
      execFileSync("redis-cli", ["-p", String(port), "pttl", keys[0]], { encoding: "utf8" }),
    );
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60_000);
  });
});
