import { type ChildProcess, spawn } from "node:child_process";
import type { EventEmitter } from "node:events";
import process from "node:process";
import { logger } from "../common/json-logger.ts";
import type { AppConfig } from "../config/config.ts";
import { RestartPolicy } from "./restart-policy.ts";
import { WORKER_READY } from "./worker-ready.ts";

/** Beyond the workers' own grace period, how long the supervisor waits before SIGKILL. */
const KILL_MARGIN_MS = 5_000;

interface WorkerSlot {
  index: number;
  child?: ChildProcess;
  startedAt: number;
  restarts: RestartPolicy;
  restartTimer?: ReturnType<typeof setTimeout>;
}

/**
 * Runs `config.workers` gateway processes on one port (each listens with SO_REUSEPORT, so the
 * kernel spreads connections over them) and keeps them running: a worker that dies is restarted
 * with backoff, and one that keeps dying stops the cluster with exit code 1, as does a worker
 * that cannot start at all. SIGTERM/SIGINT are forwarded once for each worker's graceful drain.
 * Workers share DATA_DIR and the event store as separate instances do; each has its own
 * INSTANCE_ID suffix (config.ts) and so its own read models.
 */
export async function runSupervisor(config: AppConfig, entry: string): Promise<never> {
  const command = denoCommand();
  const slots: WorkerSlot[] = Array.from({ length: config.workers }, (_, offset) => ({
    index: offset + 1,
    startedAt: 0,
    restarts: new RestartPolicy(),
  }));
  let listening = false;
  let stopping = false;
  let exitCode = 0;
  let resolveStopped!: () => void;
  const stopped = new Promise<void>((resolve) => (resolveStopped = resolve));
  const resolveWhenAllExited = () => {
    if (slots.every((slot) => slot.child === undefined)) resolveStopped();
  };

  const stopAll = (signal: "SIGTERM" | "SIGINT", code: number) => {
    if (stopping) return;
    stopping = true;
    exitCode = code;
    logger.write("info", "stopping the workers", { signal });
    for (const slot of slots) {
      clearTimeout(slot.restartTimer);
      slot.child?.kill(signal);
    }
    setTimeout(() => {
      logger.write("warn", "workers did not stop within the grace period; killing them", {});
      for (const slot of slots) slot.child?.kill("SIGKILL");
    }, config.shutdownGraceMs + KILL_MARGIN_MS).unref();
    resolveWhenAllExited();
  };

  const onWorkerDeath = (slot: WorkerSlot, code: number | null, signal: string | null) => {
    const decision = slot.restarts.onDeath(slot.startedAt, performance.now());
    if (!decision.restart) {
      logger.write("error", "worker keeps dying; stopping the cluster", {
        worker: slot.index,
        deaths: decision.deaths,
        windowMs: decision.windowMs,
      });
      return stopAll("SIGTERM", 1);
    }
    logger.write("warn", "worker exited; restarting", {
      worker: slot.index,
      code,
      signal,
      restartInMs: decision.inMs,
    });
    slot.restartTimer = setTimeout(() => {
      start(slot).catch(() => {
        // Its exit is handled (and counted) by the exit listener.
      });
    }, decision.inMs);
  };

  /** Resolves once the worker listens; rejects if it exits first. */
  const start = (slot: WorkerSlot): Promise<void> => {
    slot.startedAt = performance.now();
    const child = spawn(command, workerArguments(config, entry), {
      env: { ...process.env, WORKERS: String(config.workers), WORKER_INDEX: String(slot.index) },
      stdio: ["ignore", "inherit", "inherit", "ipc"],
      // Its own process group: a terminal's Ctrl-C reaches the supervisor only, which forwards
      // it once (a second signal would cut a worker's drain short).
      detached: true,
    });
    slot.child = child;
    const events = child as unknown as EventEmitter;
    return new Promise((resolve, reject) => {
      events.on("message", (message: unknown) => {
        if (message === WORKER_READY) resolve();
      });
      events.once("error", reject);
      events.once("exit", (code: number | null, signal: string | null) => {
        slot.child = undefined;
        reject(new Error(`worker ${slot.index} exited (${signal ?? `code ${code}`})`));
        if (!stopping) {
          // Before the cluster is up, a death stops it (below) instead of being retried.
          if (listening) onWorkerDeath(slot, code, signal);
          return;
        }
        // A worker whose drain overran its grace period exits 1 (main.ts): so does the cluster.
        if (code !== null && code !== 0) exitCode = 1;
        resolveWhenAllExited();
      });
    });
  };

  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.on(signal, () => stopAll(signal, exitCode));
  }

  try {
    // The first worker starts alone: on a fresh DATA_DIR it creates the secrets key, the event
    // store's schema and WAL, which the others then find made instead of racing to make them.
    // It answers as soon as it listens, so the first healthy answer comes no later.
    await start(slots[0]);
    await Promise.all(slots.slice(1).map(start));
    listening = true;
    logger.write("info", "cluster listening", {
      workers: config.workers,
      port: config.port,
      pids: slots.map((slot) => slot.child?.pid),
    });
  } catch (error) {
    logger.write("error", "workers could not start; stopping the cluster", {
      error: (error as Error).message,
    });
    stopAll("SIGTERM", 1);
  }
  await stopped;
  process.exit(exitCode);
}

/**
 * The deno executable to run workers with: this one when --allow-run names it, else `deno` from
 * PATH (what `npm start` grants). Workers get no run permission themselves.
 */
function denoCommand(): string {
  for (const command of [process.execPath, "deno"]) {
    if (Deno.permissions.querySync({ name: "run", command }).state === "granted") return command;
  }
  throw new Error(
    "WORKERS above 1 needs permission to start the workers: run with --allow-run=deno " +
      "(npm start does), or set WORKERS=1",
  );
}

/** Exactly the permissions `npm start` gives a single gateway process, derived from config. */
function workerArguments(config: AppConfig, entry: string): string[] {
  const readable = [
    ".",
    config.dataDir,
    config.modelsFile,
    config.secretsKeyFile,
    config.tlsCertFile,
    config.tlsKeyFile,
  ].filter((path): path is string => path !== undefined);
  return [
    "run",
    "--allow-net",
    "--allow-env",
    "--allow-sys",
    `--allow-read=${readable.join(",")}`,
    `--allow-write=${config.dataDir}`,
    entry,
  ];
}
