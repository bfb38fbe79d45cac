import type { NestFastifyApplication } from "@nestjs/platform-fastify";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { createApp } from "../../src/app.ts";
import type { Clock } from "../../src/common/clock.ts";
import { type AppConfig, loadConfig } from "../../src/config/config.ts";

export const TEST_ADMIN_KEY = "test-admin-key-0123456789abcdef";

export interface TestApp {
  app: NestFastifyApplication;
  /** `http://127.0.0.1:<port>` (`https://` when TLS_CERT_FILE/TLS_KEY_FILE are set) */
  url: string;
  config: AppConfig;
  dataDir: string;
  /** Closes the app; removes DATA_DIR unless `keepData` (e.g. to restart on the same data). */
  close(options?: { keepData?: boolean }): Promise<void>;
}

export interface TestAppOptions {
  /** Environment variables layered over the test defaults. */
  env?: Record<string, string | undefined>;
  /** Reuse a DATA_DIR (restart / second instance on the same store). */
  dataDir?: string;
  clock?: Clock;
}

/** Boots the real application on 127.0.0.1, an ephemeral port and a temporary DATA_DIR. */
export async function startTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), "modelpilot-test-"));
  const config = loadConfig({
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "silent",
    ADMIN_API_KEY: TEST_ADMIN_KEY,
    RATE_LIMIT_PER_MINUTE: "100000",
    RATE_LIMIT_PER_KEY_PER_MINUTE: "1000000",
    RATE_LIMIT_PER_ACCOUNT_PER_MINUTE: "1000000",
    ...options.env,
    DATA_DIR: dataDir,
    PORT: "0",
    HOST: "127.0.0.1",
  });
  const app = await createApp(config, { clock: options.clock });
  await app.listen({ port: 0, host: "127.0.0.1" });
  const address = app.getHttpServer().address() as { port: number };
  const scheme = config.tlsCertFile ? "https" : "http";
  const url = `${scheme}://127.0.0.1:${address.port}`;
  return {
    app,
    url,
    config,
    dataDir,
    async close(closeOptions = {}) {
      await app.close();
      if (!closeOptions.keepData && !options.dataDir) {
        rmSync(dataDir, { recursive: true, force: true });
      }
    },
  };
}

/** fetch + JSON with the admin key or a bearer token. */
export async function api(
  url: string,
  method: string,
  path: string,
  options: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: any; headers: Headers }> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let body: string | undefined;
  if (options.body !== undefined) {
    headers["content-type"] ??= "application/json";
    body = typeof options.body === "string" ? options.body : JSON.stringify(options.body);
  }
  const response = await fetch(`${url}${path}`, { method, headers, body });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // keep the raw text
  }
  return { status: response.status, body: parsed, headers: response.headers };
}
