import { type ChildProcess, spawn } from "node:child_process";
import type { EventEmitter } from "node:events";
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { npmStartPermissions } from "../../test/support/npm-start-permissions.ts";

/** A free loopback port (the benches start every process on one). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    (server as unknown as EventEmitter).once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    (child as unknown as EventEmitter).once("exit", () => resolve());
  });
}

export interface GatewayProcess {
  url: string;
  /** The process started: the gateway itself, or with WORKERS > 1 the supervisor. */
  pid: number;
  /** Every process serving (the workers, with WORKERS > 1) and the supervisor, if any. */
  pids(): number[];
  /** From spawning the process to its first 200 from GET /health. */
  startToHealthyMs: number;
  stderr(): string;
  close(): Promise<void>;
}

/** The supervisor's children (its workers), from any of its threads. */
export function childPids(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((thread) =>
      readFileSync(`/proc/${pid}/task/${thread}/children`, "utf8").trim().split(/\s+/)
    ).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Whether process `pid` holds a socket listening on TCP `port` (its fds against /proc/net). */
export function listensOn(pid: number, port: number): boolean {
  const inodes = new Set<string>();
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkOrEmpty(`/proc/${pid}/fd/${fd}`));
      if (match) inodes.add(match[1]);
    }
  } catch {
    return false;
  }
  const localPort = `:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  return ["/proc/net/tcp", "/proc/net/tcp6"].some((table) =>
    readFileSync(table, "utf8").split("\n").some((line) => {
      const fields = line.trim().split(/\s+/);
      // local_address, state 0A = LISTEN, inode
      return fields[1]?.endsWith(localPort) && fields[3] === "0A" && inodes.has(fields[9]);
    })
  );
}

function readlinkOrEmpty(path: string): string {
  try {
    return readlinkSync(path);
  } catch {
    return "";
  }
}

/** Resident memory of a process, in MB. */
export function residentMb(pid: number): number {
  const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
  return Math.round(Number(kb) / 1024 * 10) / 10;
}

/**
 * The real service, as `npm start` runs it (its permissions, LOG_LEVEL=warn), on a temporary
 * DATA_DIR, healthy before this resolves: one process by default, or `workers` processes under
 * the supervisor (every one of them listening before this resolves). A bench is one client with
 * one key and one account driving thousands of requests, so the per-client budgets it would
 * otherwise hit are lifted.
 */
export async function startGatewayProcess(options: {
  adminKey: string;
  children: ChildProcess[];
  dataDirPrefix?: string;
  denoFlags?: string[];
  entry?: string;
  workers?: number;
}): Promise<GatewayProcess> {
  const workers = options.workers ?? 1;
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), options.dataDirPrefix ?? "modelpilot-bench-"));
  const child = spawn(process.execPath, [
    "run",
    // The supervisor starts its workers with this same executable.
    ...npmStartPermissions(dataDir, workers > 1 ? process.execPath : undefined),
    ...(options.denoFlags ?? []),
    options.entry ?? "src/main.ts",
  ], {
    env: {
      ...process.env,
      WORKERS: String(workers),
      PORT: String(port),
      HOST: "127.0.0.1",
      DATA_DIR: dataDir,
      LOG_LEVEL: "warn",
      ADMIN_API_KEY: options.adminKey,
      RATE_LIMIT_PER_MINUTE: "1000000",
      RATE_LIMIT_PER_KEY_PER_MINUTE: "10000000",
      RATE_LIMIT_PER_ACCOUNT_PER_MINUTE: "10000000",
      MAX_CONCURRENT_REQUESTS_PER_ACCOUNT: "100000",
      ALLOW_PRIVATE_UPSTREAMS: "true",
      RECONCILE_INTERVAL_MS: "3600000",
      METERING_INTERVAL_MS: "3600000",
    },
    stdio: ["ignore", "ignore", process.env.BENCH_KEEP_GATEWAY_LOGS ? "inherit" : "pipe"],
  });
  options.children.push(child);
  let stderr = "";
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    stderr = (stderr + chunk).slice(-4_000);
  });
  const url = `http://127.0.0.1:${port}`;
  const started = performance.now();
  let startToHealthyMs: number | undefined;
  const pids = () => workers > 1 ? [...childPids(child.pid!), child.pid!] : [child.pid!];
  const allListening = (supervisor: number) => {
    const workerPids = childPids(supervisor);
    return workerPids.length === workers && workerPids.every((pid) => listensOn(pid, port));
  };
  for (;;) {
    if (child.exitCode !== null) throw new Error(`gateway exited: ${stderr.trim()}`);
    if (performance.now() - started > 60_000) throw new Error("gateway did not become healthy");
    try {
      const response = await fetch(`${url}/health`);
      await response.body?.cancel();
      if (response.status === 200) startToHealthyMs ??= performance.now() - started;
    } catch {
      // Not listening yet.
    }
    // The first answer comes from whichever worker listens first; wait for all of them.
    if (startToHealthyMs !== undefined && (workers === 1 || allListening(child.pid!))) break;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return {
    url,
    pid: child.pid!,
    pids,
    startToHealthyMs: startToHealthyMs!,
    stderr: () => stderr,
    async close() {
      child.kill("SIGTERM");
      await exited(child);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
