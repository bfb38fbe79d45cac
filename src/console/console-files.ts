import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { extname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** Where `npm install` (the `prepare` script) builds the console: console/dist. */
export const CONSOLE_DIST = fileURLToPath(new URL("../../console/dist/", import.meta.url));

export type Encoding = "br" | "gzip" | "identity";

export interface ConsoleFile {
  contentType: string;
  lastModified: string;
  /** Each representation with its own strong ETag, since their bytes differ. */
  representations: Partial<Record<Encoding, { body: Buffer; etag: string }>>;
}

export interface ConsoleBuild {
  index: ConsoleFile;
  /** By file name: Vite writes every asset flat into assets/, named by content hash. */
  assets: ReadonlyMap<string, ConsoleFile>;
}

const CONTENT_TYPES: Record<string, string> = {
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".html": "text/html; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".webp": "image/webp",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".txt": "text/plain; charset=utf-8",
};

/** A name Vite could have written; anything else (`..`, `/`, `%`, NUL) is never looked up. */
export const ASSET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

/** How often a missing build is looked for again (someone may be running the build now). */
const RETRY_MS = 1000;

/**
 * The built console, read once into memory: a few hundred kilobytes, and serving from a map
 * means a request can name only files the build wrote, so no path ever reaches the file system.
 */
export class ConsoleFiles {
  private build?: ConsoleBuild;
  private checkedAt = -Infinity;

  constructor(private readonly directory: string = CONSOLE_DIST) {}

  /** The build, or undefined while console/dist has none. */
  current(now = performance.now()): ConsoleBuild | undefined {
    if (this.build) return this.build;
    if (now - this.checkedAt < RETRY_MS) return undefined;
    this.checkedAt = now;
    try {
      this.build = readBuild(this.directory);
    } catch {
      // Half-written or absent: the next request after RETRY_MS looks again.
      this.build = undefined;
    }
    return this.build;
  }
}

function readBuild(directory: string): ConsoleBuild | undefined {
  const indexPath = join(directory, "index.html");
  if (!existsSync(indexPath)) return undefined;
  const assets = new Map<string, ConsoleFile>();
  const assetsDirectory = join(directory, "assets");
  if (existsSync(assetsDirectory)) {
    for (const entry of readdirSync(assetsDirectory, { withFileTypes: true })) {
      if (!entry.isFile() || !ASSET_NAME.test(entry.name)) continue;
      if (entry.name.endsWith(".gz") || entry.name.endsWith(".br")) continue;
      assets.set(entry.name, readFile(join(assetsDirectory, entry.name)));
    }
  }
  return { index: readFile(indexPath), assets };
}

function readFile(path: string): ConsoleFile {
  const representations: ConsoleFile["representations"] = {};
  const add = (encoding: Encoding, body: Buffer) => {
    const hash = createHash("sha256").update(body).digest("base64url").slice(0, 22);
    representations[encoding] = {
      body,
      etag: `"${hash}${encoding === "identity" ? "" : `-${encoding}`}"`,
    };
  };
  add("identity", readFileSync(path));
  // Precompressed at build time (console/vite.config.ts); small files have none.
  if (existsSync(`${path}.br`)) add("br", readFileSync(`${path}.br`));
  if (existsSync(`${path}.gz`)) add("gzip", readFileSync(`${path}.gz`));
  return {
    contentType: CONTENT_TYPES[extname(path)] ?? "application/octet-stream",
    lastModified: statSync(path).mtime.toUTCString(),
    representations,
  };
}

/**
 * The best representation the client accepts: brotli, then gzip, else the plain bytes.
 * `q=0` refuses an encoding; a malformed header just means identity.
 */
export function chooseEncoding(file: ConsoleFile, acceptEncoding: unknown): Encoding {
  if (typeof acceptEncoding !== "string" || acceptEncoding.length > 1024) return "identity";
  const accepted = new Map<string, number>();
  for (const part of acceptEncoding.split(",")) {
    const [token, ...parameters] = part.trim().toLowerCase().split(";");
    const q = parameters.map((p) => p.trim()).find((p) => p.startsWith("q="));
    const weight = q ? Number(q.slice(2)) : 1;
    accepted.set(token, Number.isFinite(weight) ? weight : 0);
  }
  const weightOf = (token: string) => accepted.get(token) ?? accepted.get("*") ?? 0;
  for (const encoding of ["br", "gzip"] as const) {
    if (file.representations[encoding] && weightOf(encoding) > 0) return encoding;
  }
  return "identity";
}

/** If-None-Match against the representation's ETag (weak comparison, as RFC 9110 asks for GET). */
export function notModified(ifNoneMatch: unknown, etag: string): boolean {
  if (typeof ifNoneMatch !== "string" || ifNoneMatch.length > 4096) return false;
  if (ifNoneMatch.trim() === "*") return true;
  return ifNoneMatch.split(",").some((tag) => tag.trim().replace(/^W\//, "") === etag);
}

/** Shown instead of the console when console/dist is missing, with how to build it. */
export const NOT_BUILT_PAGE = Buffer.from(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>ModelPilot console not built</title></head>
<body>
<main>
<h1>The console has not been built</h1>
<p>The gateway and its API are running; only the web console is missing. Build it with
<code>npm run build:console</code> (<code>npm install</code> and <code>npm start</code> do this too),
then reload this page.</p>
<p>The API reference is at <a href="/docs">/docs</a>.</p>
</main>
</body>
</html>
`);
