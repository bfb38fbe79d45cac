import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, type WriteStream } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { freePort } from "../support/free-port.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const PRELOAD = new URL("./clock-shift.preload.ts", import.meta.url).pathname;

/**
 * The gateway as an operator runs it (`deno run -A src/main.ts`), in a child process on one
 * DATA_DIR, so the fault schedule can kill it with SIGKILL at any point and start it again on
 * the same files. Its wall clock follows the clock file (clock-shift.preload.ts).
 */
export class GatewayProcess {
  url = "";
  private child?: ChildProcess;
  private exited?: Promise<number | null>;
  private readonly log: WriteStream;
  starts = 0;

  constructor(private readonly dataDir: string, private readonly env: Record<string, string>) {
    this.log = createWriteStream(join(dataDir, "gateway.log"), { flags: "a" });
  }

  get logPath(): string {
    return join(this.dataDir, "gateway.log");
  }

  async start(timeoutMs = 30_000): Promise<void> {
    const port = await freePort();
    this.url = `http://127.0.0.1:${port}`;
    this.starts++;
    const child = spawn(
      process.execPath,
      ["run", "-A", "--preload", PRELOAD, "src/main.ts"],
      {
        cwd: ROOT,
        // One process (no supervisor): its faults and kills hit the gateway itself.
        env: { ...process.env, WORKERS: "1", ...this.env, PORT: String(port), HOST: "127.0.0.1" },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    this.child = child;
    child.stdout!.pipe(this.log, { end: false });
    child.stderr!.pipe(this.log, { end: false });
    this.exited = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) {
        throw new Error(`gateway exited with ${child.exitCode} at start (see ${this.logPath})`);
      }
      try {
        const health = await fetch(`${this.url}/health`, { signal: AbortSignal.timeout(1_000) });
        await health.body?.cancel();
        if (health.status === 200) return;
      } catch {
        // Not listening yet.
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`gateway did not answer /health within ${timeoutMs} ms (see ${this.logPath})`);
  }

  /** kill -9: no shutdown hook runs, whatever was in flight is cut where it stood. */
  async kill9(): Promise<void> {
    this.child?.kill("SIGKILL");
    await this.exited;
    this.child = undefined;
  }

  /** A graceful stop (SIGTERM): drains, stops projections, closes the store. */
  async stop(): Promise<number | null> {
    if (!this.child) return null;
    this.child.kill("SIGTERM");
    let timer: ReturnType<typeof setTimeout> | undefined;
    const code = await Promise.race([
      this.exited!,
      new Promise<"hung">((resolve) => timer = setTimeout(() => resolve("hung"), 20_000)),
    ]);
    clearTimeout(timer);
    if (code === "hung") {
      this.child.kill("SIGKILL");
      await this.exited;
    }
    this.child = undefined;
    return code === "hung" ? null : code;
  }

  close(): void {
    this.child?.kill("SIGKILL");
    this.log.end();
  }
}
