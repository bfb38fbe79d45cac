import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { loadConfig } from "../../src/config/config.ts";
import { freePort } from "../support/free-port.ts";
import { npmStartPermissions } from "../support/npm-start-permissions.ts";
import { describeWithRedis, type RedisServer, startRedisServer } from "../support/redis-server.ts";

/** `npm start`'s command with WORKERS workers, on a fresh DATA_DIR and port. */
function startCluster(env: Record<string, string>, dataDir: string) {
  const child = spawn(process.execPath, [
    "run",
    ...npmStartPermissions(dataDir, "deno"),
    "src/main.ts",
  ], {
    env: { ...process.env, LOG_LEVEL: "info", HOST: "127.0.0.1", DATA_DIR: dataDir, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output = { text: "" };
  for (const stream of [child.stdout!, child.stderr!]) {
    stream.setEncoding("utf8").on("data", (chunk: string) => (output.text += chunk));
  }
  /** Resolves once every worker listens (the supervisor says so). */
  const listening = () =>
    waitFor(() => output.text.includes('"msg":"cluster listening"') ? true : undefined)
      .catch((error) => {
        // What the supervisor and its workers said is the only clue to why they never listened.
        throw new Error(`${(error as Error).message}; the cluster said:\n${output.text}`);
      });
  return { child, output, listening };
}

/**
 * Resolves when the process has exited and its output (and its workers', which share the pipe)
 * is read to the end. Deno's ChildProcess sets signalCode as soon as kill() is called, so the
 * state is only read once the process really closed.
 */
function closed(child: ChildProcess) {
  return new Promise<{ code: number | null; signal: string | null }>((resolve) => {
    if (child.exitCode !== null) return resolve({ code: child.exitCode, signal: null });
    child.once("close", (code, signal) => resolve({ code, signal }));
  });
}

/** Sends SIGTERM and waits for the process to close. */
function terminate(child: ChildProcess) {
  const done = closed(child);
  child.kill("SIGTERM");
  return done;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The supervisor's live worker pids (any of its threads may have started one). */
function workerPids(supervisor: number): number[] {
  return readdirSync(`/proc/${supervisor}/task`).flatMap((thread) =>
    readFileSync(`/proc/${supervisor}/task/${thread}/children`, "utf8").trim().split(/\s+/)
  ).filter(Boolean).map(Number);
}

async function waitFor<T>(probe: () => Promise<T | undefined> | T | undefined, ms = 20_000) {
  const started = Date.now();
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() - started > ms) throw new Error("timed out");
    await sleep(50);
  }
}

/** Established TCP connections on `port` held by process `pid` (from its fds and /proc/net). */
function establishedConnections(pid: number, port: number): number {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      const match = /^socket:\[(\d+)\]$/.exec(target);
      if (match) inodes.add(match[1]);
    } catch {
      // The fd closed while we looked.
    }
  }
  const localPort = `:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  let count = 0;
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    for (const line of readFileSync(table, "utf8").split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      // local_address, state 01 = ESTABLISHED, inode
      if (fields[1]?.endsWith(localPort) && fields[3] === "01" && inodes.has(fields[9])) count++;
    }
  }
  return count;
}

/** One GET on a fresh connection (so the kernel picks a worker for each). */
function getOnNewConnection(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, agent: false }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("WORKERS: one gateway process per core on one port", () => {
  let dataDir: string;
  let port: number;
  let supervisor: ChildProcess;
  let supervisorClosed: ReturnType<typeof closed>;
  let output: { text: string };

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "modelpilot-cluster-"));
    port = await freePort();
    const cluster = startCluster({ WORKERS: "2", PORT: String(port) }, dataDir);
    supervisor = cluster.child;
    supervisorClosed = closed(supervisor);
    output = cluster.output;
    await cluster.listening();
  }, 60_000);

  afterAll(async () => {
    supervisor.kill("SIGTERM");
    await supervisorClosed;
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("spreads connections over both workers, each with its own read models", async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 32 });
    const held = Array.from({ length: 32 }, () =>
      new Promise<void>((resolve, reject) => {
        const req = request({ host: "127.0.0.1", port, path: "/health", agent }, (res) => {
          res.resume();
          res.on("end", resolve);
        });
        req.on("error", reject);
        req.end();
      }));
    await Promise.all(held);
    try {
      const perWorker = workerPids(supervisor.pid!).map((pid) => establishedConnections(pid, port));
      expect(perWorker).toHaveLength(2);
      expect(perWorker.every((count) => count > 0)).toBe(true);
      // 32, and the health probe's own keep-alive connection.
      expect(perWorker.reduce((sum, count) => sum + count, 0)).toBeGreaterThanOrEqual(32);
    } finally {
      agent.destroy();
    }
    const readModels = readdirSync(dataDir).filter((name) => name.startsWith("read-models."));
    expect(readModels).toEqual(
      expect.arrayContaining(["read-models.main-1.sqlite", "read-models.main-2.sqlite"]),
    );
  });

  it("restarts a worker that dies, and keeps answering meanwhile", async () => {
    const [victim, survivor] = workerPids(supervisor.pid!);
    process.kill(victim, "SIGKILL");
    // Connections the kernel had queued for the killed worker die with it; once it is gone,
    // the survivor takes every new one.
    await waitFor(() => {
      try {
        process.kill(victim, 0);
        return undefined;
      } catch {
        return true;
      }
    });
    for (let i = 0; i < 10; i++) expect(await getOnNewConnection(port, "/health")).toBe(200);
    const replaced = await waitFor(() => {
      const pids = workerPids(supervisor.pid!);
      return pids.length === 2 && !pids.includes(victim) ? pids : undefined;
    });
    expect(replaced).toContain(survivor);
    // The replacement serves too: a third "listening" line, after the two first workers'.
    await waitFor(() => output.text.split('"msg":"listening"').length - 1 === 3 ? true : undefined);
    expect(output.text).toContain("worker exited; restarting");
  }, 30_000);

  it("drains every worker on SIGTERM and exits", async () => {
    const workers = workerPids(supervisor.pid!);
    supervisor.kill("SIGTERM");
    const { code, signal } = await supervisorClosed;
    // The supervisor exits 0; Deno's ChildProcess reports a child it signalled as killed.
    expect(code === 0 || signal === "SIGTERM").toBe(true);
    expect(output.text).toContain('"msg":"stopping the workers"');
    expect(output.text).not.toContain("did not stop within the grace period");
    for (const pid of workers) expect(() => process.kill(pid, 0)).toThrow();
  }, 30_000);
});

describe("WORKERS: a supervisor killed outright", () => {
  it("leaves no worker behind: each shuts itself down", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "modelpilot-cluster-orphans-"));
    const port = await freePort();
    const { child, listening } = startCluster({ WORKERS: "2", PORT: String(port) }, dataDir);
    try {
      await listening();
      const workers = workerPids(child.pid!);
      expect(workers).toHaveLength(2);
      child.kill("SIGKILL");
      await waitFor(() => {
        const alive = workers.filter((pid) => {
          try {
            process.kill(pid, 0);
            return true;
          } catch {
            return false;
          }
        });
        return alive.length === 0 ? true : undefined;
      });
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe("WORKERS: start-up failures", () => {
  it("exits 1 when the workers cannot listen", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "modelpilot-cluster-busy-"));
    // A listener without SO_REUSEPORT holds the port, so no worker can join it.
    const squatter: Server = createServer();
    const port = await new Promise<number>((resolve) =>
      squatter.listen(0, "127.0.0.1", () => resolve((squatter.address() as { port: number }).port))
    );
    try {
      const { child, output } = startCluster({ WORKERS: "2", PORT: String(port) }, dataDir);
      expect((await closed(child)).code).toBe(1);
      expect(output.text).toContain("workers could not start");
    } finally {
      squatter.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);

  it("refuses a bad WORKERS with one line naming it", async () => {
    const { child, output } = startCluster(
      { WORKERS: "many", PORT: "0" },
      "/tmp/unused-modelpilot",
    );
    expect((await closed(child)).code).toBe(1);
    expect(output.text).toContain(
      'Configuration error: WORKERS must be auto (one per core) or an integer from 1 to 64 (got "many")',
    );
  });

  it("resolves auto to the cores and gives each worker its share of in-process budgets", () => {
    expect(loadConfig({}).workers).toBeGreaterThanOrEqual(1);
    expect(() => loadConfig({ WORKERS: "0" })).toThrow("WORKERS must be auto");
    expect(() => loadConfig({ WORKERS: "2", WORKER_INDEX: "3" })).toThrow("WORKER_INDEX");
    const worker = loadConfig({
      WORKERS: "4",
      WORKER_INDEX: "2",
      RATE_LIMIT_PER_MINUTE: "100",
      MAX_CONCURRENT_REQUESTS_PER_ACCOUNT: "2",
    });
    expect(worker.instanceId).toBe("main-2");
    expect(worker.rateLimitPerMinute).toBe(25);
    expect(worker.maxConcurrentRequestsPerAccount).toBe(1);
    const shared = loadConfig({
      WORKERS: "4",
      WORKER_INDEX: "2",
      RATE_LIMIT_PER_MINUTE: "100",
      REDIS_URL: "redis://127.0.0.1:6379",
    });
    // Redis holds one exact counter for the cluster; concurrency is still counted in process.
    expect(shared.rateLimitPerMinute).toBe(100);
    expect(shared.maxConcurrentRequestsPerAccount).toBe(16);
    expect(loadConfig({ WORKERS: "4", RATE_LIMIT_PER_MINUTE: "100" }).rateLimitPerMinute).toBe(
      100,
    );
  });
});

/** Requests answered (not 429) out of `attempts`, each on its own connection. */
async function admittedOnFreshConnections(port: number, attempts: number): Promise<number> {
  let admitted = 0;
  for (let i = 0; i < attempts; i++) {
    if (await getOnNewConnection(port, "/api/keys") !== 429) admitted++;
  }
  return admitted;
}

describe("WORKERS: rate limits across the workers", () => {
  it("never admits more than one process would, with budgets in process memory", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "modelpilot-cluster-limits-"));
    const port = await freePort();
    const { child, listening } = startCluster(
      { WORKERS: "2", PORT: String(port), RATE_LIMIT_PER_MINUTE: "10" },
      dataDir,
    );
    try {
      await listening();
      // 40 connections spread over both workers; each admits its 5.
      expect(await admittedOnFreshConnections(port, 40)).toBe(10);
    } finally {
      await terminate(child);
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);
});

describeWithRedis("WORKERS: rate limits shared through Redis", () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it("admits exactly the configured budget across the workers", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "modelpilot-cluster-redis-"));
    const port = await freePort();
    const { child, listening } = startCluster({
      WORKERS: "2",
      PORT: String(port),
      RATE_LIMIT_PER_MINUTE: "7",
      REDIS_URL: redis.url,
    }, dataDir);
    try {
      await listening();
      expect(await admittedOnFreshConnections(port, 30)).toBe(7);
    } finally {
      await terminate(child);
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);
});
