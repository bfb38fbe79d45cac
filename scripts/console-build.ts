// Builds the web console into console/dist with Vite. `npm run build:console` always builds;
// `--if-stale` (npm start's prestart, the test suite's global setup) only when console/dist is
// missing or older than a console source file. Run under Deno or imported from jest.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const SOURCES = ["src", "index.html", "vite.config.ts", "tsconfig.json"];

/** The newest modification time among the console's sources (0 when there are none). */
function newestSource(consoleDir: string): number {
  let newest = 0;
  const visit = (path: string) => {
    if (!existsSync(path)) return;
    const stat = statSync(path);
    if (stat.isDirectory()) {
      for (const entry of readdirSync(path)) visit(join(path, entry));
    } else {
      newest = Math.max(newest, stat.mtimeMs);
    }
  };
  for (const source of SOURCES) visit(join(consoleDir, source));
  return newest;
}

export function consoleIsStale(root: string): boolean {
  const consoleDir = join(root, "console");
  const index = join(consoleDir, "dist", "index.html");
  if (!existsSync(index)) return true;
  return statSync(index).mtimeMs < newestSource(consoleDir);
}

/**
 * Builds into a directory of its own, then swaps it in: a server or a test run reading
 * console/dist meanwhile sees the old build or the new one, never half of one, and two builds
 * started together (parallel test runs) do not write into each other's files.
 */
export function buildConsole(root: string): void {
  const consoleDir = join(root, "console");
  const staging = join(consoleDir, `.dist-${process.pid}-${Date.now()}`);
  const dist = join(consoleDir, "dist");
  const vite = join(root, "node_modules", "vite", "bin", "vite.js");
  if (!existsSync(vite)) {
    throw new Error("vite is not installed: run `npm install` (it builds the console too)");
  }
  // Vite runs on Node, which the README's set-up already requires.
  const result = spawnSync(
    "node",
    [
      vite,
      "build",
      "--config",
      join(consoleDir, "vite.config.ts"),
      "--outDir",
      staging,
      "--logLevel",
      "warn",
    ],
    { cwd: root, stdio: "inherit" },
  );
  if (result.status !== 0) {
    rmSync(staging, { recursive: true, force: true });
    throw new Error(
      `the console build failed (${result.error?.message ?? `exit ${result.status}`})`,
    );
  }
  const retired = `${staging}.old`;
  try {
    renameSync(dist, retired);
  } catch {
    // No previous build, or another build just moved it.
  }
  try {
    renameSync(staging, dist);
  } catch {
    // Another build installed its (equally fresh) output first.
    rmSync(staging, { recursive: true, force: true });
  }
  rmSync(retired, { recursive: true, force: true });
}

/** Builds when stale; true when it built. */
export function ensureConsoleBuilt(root: string): boolean {
  if (!consoleIsStale(root)) return false;
  buildConsole(root);
  return true;
}

if (import.meta.main) {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
  try {
    if (process.argv.includes("--if-stale")) {
      if (ensureConsoleBuilt(root)) console.log("console built into console/dist");
    } else {
      buildConsole(root);
      console.log("console built into console/dist");
    }
  } catch (error) {
    console.error(`console: ${(error as Error).message}`);
    process.exit(1);
  }
}
