import { type ChildProcess, spawn } from "node:child_process";
import type { EventEmitter } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";

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
  pid: number;
  stderr(): string;
  close(): Promise<void>;
}

/**
 * The real service, as `npm start` runs it (its permissions, LOG_LEVEL=warn), on a temporary
 * DATA_DIR, healthy before this resolves. A bench is one client with one key and one account
 * driving thousands of requests, so the per-client budgets it would otherwise hit are lifted.
 */
export async function startGatewayProcess(options: {
  adminKey: string;
  children: ChildProcess[];
  dataDirPrefix?: string;
  denoFlags?: string[];
  entry?: string;
}): Promise<GatewayProcess> {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), options.dataDirPrefix ?? "modelpilot-bench-"));
  const child = spawn(process.execPath, [
    "run",
    "--allow-net",
    "--allow-env",
    "--allow-sys",
    `--allow-read=.,${dataDir}`,
    `--allow-write=${dataDir}`,
    ...(options.denoFlags ?? []),
    options.entry ?? "src/main.ts",
  ], {
    env: {
      ...process.env,
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
  for (;;) {
    if (child.exitCode !== null) throw new Error(`gateway exited: ${stderr.trim()}`);
    if (performance.now() - started > 60_000) throw new Error("gateway did not become healthy");
    try {
      const response = await fetch(`${url}/health`);
      await response.body?.cancel();
      if (response.status === 200) break;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    url,
    pid: child.pid!,
    stderr: () => stderr,
    async close() {
      child.kill("SIGTERM");
      await exited(child);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
