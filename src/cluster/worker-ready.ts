import process from "node:process";

/** The message a worker sends its supervisor once it listens. */
export const WORKER_READY = "modelpilot:worker-ready";

/**
 * Tells the supervisor this worker listens, and drains this worker if the supervisor goes away
 * without forwarding a signal (killed outright), so no worker outlives its cluster.
 */
export function reportReadyToSupervisor(): void {
  // The IPC channel the supervisor opened; absent if a worker was started some other way.
  if (typeof process.send !== "function") return;
  process.send(WORKER_READY);
  process.once("disconnect", () => process.kill(process.pid, "SIGTERM"));
}
