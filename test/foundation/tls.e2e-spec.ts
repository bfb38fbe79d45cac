import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { connect as netConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { connect as tlsConnect } from "node:tls";
import OpenAI from "openai";
import { ConfigError } from "../../src/config/config.ts";
import { fetchTrusting } from "../support/https-fetch.ts";
import { simulator } from "../generation/support/generation.ts";
import type { RunpodSimulator } from "../support/runpod-sim/index.ts";
import {
  createTestCertificates,
  opensslAvailable,
  type TestCertificates,
} from "../support/test-ca.ts";
import { startTestApp, TEST_ADMIN_KEY, type TestApp } from "../support/test-app.ts";
import { startTlsProxy, type TlsProxy } from "../support/tls-proxy.ts";
import { type LocalUpstream, startLocalUpstream } from "../support/upstreams/openai-upstream.ts";
import {
  type RealtimeUpstream,
  startRealtimeUpstream,
} from "../support/upstreams/realtime-upstream.ts";
import { connectRealtime, textOf } from "../support/realtime-client.ts";

/**
 * HTTPS: the gateway serving TLS itself (TLS_CERT_FILE/TLS_KEY_FILE) and the plain gateway
 * behind a TLS-terminating proxy (TRUST_PROXY + X-Forwarded-Proto). Certificates come from a
 * throwaway CA made with the openssl CLI for this run.
 */
const haveOpenssl = opensslAvailable();
if (!haveOpenssl) {
  console.warn("tls.e2e-spec skipped: the openssl CLI is not installed (apt-get install openssl)");
}
const describeTls = haveOpenssl ? describe : describe.skip;

/** The account API over HTTPS, trusting the test CA. */
function clientFor(baseUrl: string, ca: string) {
  const fetchTls = fetchTrusting(ca);
  const call = async (method: string, path: string, token: string, body?: unknown) => {
    const response = await fetchTls(`${baseUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined };
  };
  return {
    fetch: fetchTls,
    call,
    /** A funded account with an every-permission key. */
    async tenant(usd: number) {
      const email = `tls-${Math.random().toString(36).slice(2)}@example.com`;
      const account = await call("POST", "/admin/accounts", TEST_ADMIN_KEY, { email });
      const accountId = account.body.id as string;
      const key = await call("POST", `/admin/accounts/${accountId}/api-keys`, TEST_ADMIN_KEY, {
        name: "tls",
        permissions: ["read", "proxy", "manage"],
      });
      await call("POST", `/admin/accounts/${accountId}/credits`, TEST_ADMIN_KEY, {
        amount_usd: usd,
        reason: "tls test",
      });
      return { accountId, key: key.body.key as string };
    },
  };
}

/** A chat through the official client, over HTTPS with the test CA trusted. */
async function chatThrough(baseUrl: string, ca: string, upstream: LocalUpstream) {
  const tls = clientFor(baseUrl, ca);
  const { key } = await tls.tenant(5);
  const registered = await tls.call("POST", "/api/deployments", key, {
    provider: "external",
    name: `tls-${Math.random().toString(36).slice(2, 8)}`,
    model: "Qwen/Qwen3-8B",
    base_url: upstream.baseUrl,
  });
  expect(registered.status).toBe(201);
  const openai = new OpenAI({
    apiKey: key,
    baseURL: `${baseUrl}/v1`,
    maxRetries: 0,
    fetch: tls.fetch,
  });
  const completion = await openai.chat.completions.create({
    model: registered.body.name,
    messages: [{ role: "user", content: "over tls" }],
  });
  return { completion, key, tls };
}

/** An audio generation's artifact link: it carries the origin the gateway believes it is at. */
async function artifactLink(tls: ReturnType<typeof clientFor>, key: string): Promise<string> {
  const generated = await tls.call("POST", "/api/v1/generate/audio", key, {
    model: "kokoro",
    text: "where am I",
  });
  expect(generated.status).toBe(200);
  const link = JSON.stringify(generated.body).match(/"(https?:\/\/[^"]+\/artifacts\/[^"]+)"/);
  expect(link).not.toBeNull();
  return link![1];
}

/** A realtime session over wss: at `baseUrl` with the browser-style subprotocol key. */
async function realtimeThrough(baseUrl: string, ca: string, upstream: RealtimeUpstream) {
  const tls = clientFor(baseUrl, ca);
  const { key } = await tls.tenant(5);
  const name = `rt-${Math.random().toString(36).slice(2, 8)}`;
  const registered = await tls.call("POST", "/api/deployments", key, {
    provider: "external",
    name,
    model: "voice",
    base_url: upstream.baseUrl,
    realtime: true,
  });
  expect(registered.status).toBe(201);
  const client = connectRealtime(`${baseUrl.replace("https:", "wss:")}/v1/realtime?model=${name}`, {
    protocols: ["realtime", `openai-insecure-api-key.${key}`],
    ws: { ca },
  });
  await client.opened;
  expect(client.protocol()).toBe("realtime");
  const done = await client.ask("over wss");
  client.close(1000);
  await client.closed;
  return textOf(client.events, done.response.id);
}

function runpodEnv(sim: RunpodSimulator): Record<string, string> {
  return {
    RUNPOD_API_URL: sim.serverlessUrl,
    RUNPOD_REST_URL: sim.restUrl,
    RUNPOD_POD_PROXY_URL: sim.podProxyTemplate,
    RUNPOD_API_KEY: sim.apiKey!,
    GENERATION_SYNC_WAIT_MS: "5000",
  };
}

describeTls("HTTPS served by the gateway itself", () => {
  let certs: TestCertificates;
  let gateway: TestApp;
  let upstream: LocalUpstream;
  let realtime: RealtimeUpstream;
  let sim: RunpodSimulator;

  beforeAll(async () => {
    certs = createTestCertificates();
    upstream = await startLocalUpstream("vllm");
    realtime = await startRealtimeUpstream();
    sim = await simulator();
    gateway = await startTestApp({
      env: {
        TLS_CERT_FILE: certs.certFile,
        TLS_KEY_FILE: certs.keyFile,
        ALLOW_PRIVATE_UPSTREAMS: "true",
        HTTP_HEADERS_TIMEOUT_MS: "400",
        ...runpodEnv(sim),
      },
    });
  });
  afterAll(async () => {
    await gateway?.close();
    await upstream?.close();
    await realtime?.close();
    await sim?.close();
    certs?.remove();
  });

  it("answers over https for a client trusting the CA, and refuses plain http and untrusting clients", async () => {
    expect(gateway.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const health = await fetchTrusting(certs.ca)(`${gateway.url}/health`);
    expect(health.status).toBe(200);
    expect((await health.json()).status).toBe("ok");

    const untrusted = await new Promise<string>((resolve) => {
      httpsRequest(`${gateway.url}/health`, { agent: false }, () => resolve("answered"))
        .on("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message))
        .end();
    });
    expect(untrusted).not.toBe("answered");
    await expect(fetch(`${gateway.url.replace("https:", "http:")}/health`)).rejects.toThrow();
  });

  it("serves the OpenAI API to the official client, and links artifacts with https", async () => {
    const { completion, key, tls } = await chatThrough(gateway.url, certs.ca, upstream);
    expect(completion.choices[0].message.content).toContain("over tls");
    expect(await artifactLink(tls, key)).toMatch(new RegExp(`^${gateway.url}/`));
  });

  it("upgrades wss: realtime sessions on the same port", async () => {
    expect(await realtimeThrough(gateway.url, certs.ca, realtime)).toContain("You said: over wss");
  });

  it("keeps a keep-alive TLS connection past the headers window, and drops a silent handshake", async () => {
    // One TLS socket, two requests 1 s apart: the 400 ms headers window must not cut it.
    const socket = tlsConnect({
      host: "127.0.0.1",
      port: Number(new URL(gateway.url).port),
      ca: certs.ca,
      servername: "localhost",
    });
    await new Promise<void>((resolve, reject) => {
      socket.once("secureConnect", () => resolve());
      socket.once("error", reject);
    });
    const ask = () =>
      new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("no answer within 3 s")), 3_000);
        let answer = "";
        const onData = (chunk: Buffer) => {
          answer += chunk.toString();
          if (/\r\n\r\n[\s\S]*"status"/.test(answer)) {
            socket.off("data", onData);
            clearTimeout(timer);
            resolve(answer.split("\r\n")[0]);
          }
        };
        socket.on("data", onData);
        socket.write("GET /health HTTP/1.1\r\nhost: localhost\r\n\r\n");
      });
    expect(await ask()).toBe("HTTP/1.1 200 OK");
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(await ask()).toBe("HTTP/1.1 200 OK");
    socket.destroy();

    // A TCP connection that never starts its handshake is closed within the headers window.
    const silent = netConnect(Number(new URL(gateway.url).port), "127.0.0.1");
    const started = Date.now();
    await new Promise<void>((resolve) => silent.once("close", () => resolve()));
    expect(Date.now() - started).toBeLessThan(3_000);
  });
});

describeTls("behind a TLS-terminating proxy", () => {
  let certs: TestCertificates;
  let gateway: TestApp;
  let proxy: TlsProxy;
  let upstream: LocalUpstream;
  let realtime: RealtimeUpstream;
  let sim: RunpodSimulator;

  beforeAll(async () => {
    certs = createTestCertificates();
    upstream = await startLocalUpstream("vllm");
    realtime = await startRealtimeUpstream();
    sim = await simulator();
    gateway = await startTestApp({
      env: { TRUST_PROXY: "127.0.0.1", ALLOW_PRIVATE_UPSTREAMS: "true", ...runpodEnv(sim) },
    });
    proxy = await startTlsProxy(gateway.url, certs);
  });
  afterAll(async () => {
    await proxy?.close();
    await gateway?.close();
    await upstream?.close();
    await realtime?.close();
    await sim?.close();
    certs?.remove();
  });

  it("works unchanged through the proxy, and believes its X-Forwarded-Proto", async () => {
    expect(gateway.url).toMatch(/^http:/);
    const { completion, key, tls } = await chatThrough(proxy.url, certs.ca, upstream);
    expect(completion.choices[0].message.content).toContain("over tls");
    // The link points at the proxy's https origin, not the gateway's plain address.
    expect(await artifactLink(tls, key)).toMatch(new RegExp(`^${proxy.url}/`));
    expect(proxy.forwarded).toBeGreaterThan(0);
  });

  it("passes wss: realtime upgrades through to the plain gateway", async () => {
    expect(await realtimeThrough(proxy.url, certs.ca, realtime)).toContain("You said: over wss");
    expect(realtime.upgrades.at(-1)!.protocols ?? "").not.toContain("openai-insecure-api-key");
  });
});

describeTls("TLS settings at start", () => {
  let certs: TestCertificates;
  let other: TestCertificates;
  beforeAll(() => {
    certs = createTestCertificates();
    other = createTestCertificates();
  });
  afterAll(() => {
    certs?.remove();
    other?.remove();
  });

  it("refuses a missing, unreadable or mismatched certificate and key", async () => {
    const start = (env: Record<string, string>) => startTestApp({ env });
    await expect(start({ TLS_CERT_FILE: certs.certFile })).rejects.toThrow(
      new ConfigError("TLS_CERT_FILE is set but TLS_KEY_FILE is not; set all or none"),
    );
    await expect(start({ TLS_CERT_FILE: "/nonexistent/cert.pem", TLS_KEY_FILE: certs.keyFile }))
      .rejects.toThrow("TLS_CERT_FILE (/nonexistent/cert.pem) cannot be read (ENOENT)");
    await expect(start({ TLS_CERT_FILE: certs.keyFile, TLS_KEY_FILE: certs.keyFile }))
      .rejects.toThrow("holds no PEM certificate");
    await expect(start({ TLS_CERT_FILE: certs.certFile, TLS_KEY_FILE: other.keyFile }))
      .rejects.toThrow("is not the key of the first certificate");
  });

  it("stops the process with one line naming the variable", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "modelpilot-tls-boot-"));
    try {
      const child = spawn(process.execPath, [
        "run",
        "--allow-net",
        "--allow-env",
        "--allow-sys",
        "--allow-read",
        `--allow-write=${dataDir}`,
        "src/main.ts",
      ], {
        env: {
          ...process.env,
          WORKERS: "1",
          DATA_DIR: dataDir,
          PORT: "0",
          HOST: "127.0.0.1",
          TLS_CERT_FILE: certs.certFile,
          TLS_KEY_FILE: other.keyFile,
        },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stderr = "";
      child.stderr!.on("data", (chunk) => (stderr += chunk.toString()));
      const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
      expect(code).toBe(1);
      const lines = stderr.split("\n").filter((line) => line.trim() && !/Warning/.test(line));
      expect(lines).toEqual([
        `Configuration error: TLS_KEY_FILE (${other.keyFile}) is not the key of the first ` +
        `certificate in TLS_CERT_FILE (${certs.certFile})`,
      ]);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
