import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { Redis } from "ioredis";
import { freePort } from "./free-port.ts";

/** Printed when a test that needs Redis is skipped; names the Debian/Ubuntu package. */
export const REDIS_SKIP_REASON =
  "redis-server is not installed, so the Redis rate-limit tests are skipped; install it " +
  "(Debian/Ubuntu: apt-get install redis-server) to run them. CI (.ci/run) installs it.";

/** Whether `redis-server` can be started from PATH. */
export function redisServerAvailable(): boolean {
  const probe = spawnSync("redis-server", ["--version"], { stdio: "ignore" });
  return !probe.error && probe.status === 0;
}

/**
 * `describe` when redis-server is installed; otherwise `describe.skip`, after printing why
 * (so `npm test` passes on a machine with only Node and npm, and says what it did not run).
 */
export function describeWithRedis(name: string, body: () => void): void {
  if (redisServerAvailable()) {
    describe(name, body);
    return;
  }
  console.log(`${REDIS_SKIP_REASON} Skipped: "${name}".`);
  describe.skip(name, body);
}

export interface RedisServer {
  port: number;
  url: string;
  /** A client for assertions (closed by stop). */
  client: Redis;
  /** Stops the server (SIGTERM) and waits for it to exit. */
  stop(): Promise<void>;
}

/** A throwaway redis-server on a free 127.0.0.1 port: no persistence, no config file. */
export async function startRedisServer(): Promise<RedisServer> {
  const port = await freePort();
  const child: ChildProcess = spawn(
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    { stdio: "ignore" },
  );
  // Deno's child_process sets signalCode as soon as kill() is called, so wait for "exit".
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.once("exit", () => {
      exited = true;
      resolve();
    })
  );
  const client = new Redis({ port, host: "127.0.0.1", lazyConnect: true, maxRetriesPerRequest: 0 });
  client.on("error", () => {});
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      if (client.status !== "ready") await client.connect();
      if (await client.ping() === "PONG") break;
    } catch {
      // not up yet
    }
    if (exited || Date.now() > deadline) {
      child.kill("SIGKILL");
      client.disconnect();
      throw new Error(`redis-server did not start on port ${port}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    client,
    async stop() {
      client.disconnect();
      if (exited) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exit;
      clearTimeout(timer);
    },
  };
}
