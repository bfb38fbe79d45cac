/**
 * Gateway benchmark: `npm run bench:gateway`. Prints ONE JSON object comparing, in one run,
 * direct calls to a local vLLM-like upstream that answers in 20 ms with the same calls through
 * the gateway (API-key auth, routing from the deployments read model, request normalisation,
 * the InferenceCompleted event):
 *
 * - added latency p50/p99 at concurrency 1 (gateway percentile minus direct percentile; the two
 *   are interleaved request by request so drift hits both alike);
 * - requests/s at concurrency 64, direct and through the gateway, and their ratio;
 * - concurrent streams held open through the gateway with no stalled frame (a gap between
 *   frames over BENCH_STALL_MS, default 1000 ms, counts as a stall).
 *
 * Everything (load generator, gateway, upstream) shares this process and machine, so the
 * gateway figures include competing with the load generator for the same cores.
 * Options (environment): BENCH_SEQUENTIAL (default 1000), BENCH_CONCURRENT_REQUESTS (default
 * 4000), BENCH_STREAMS (default 512), BENCH_STALL_MS (default 1000).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { createApp } from "../src/app.ts";
import { loadConfig } from "../src/config/config.ts";
import { UsageRecorder } from "../src/inference/usage-recorder.ts";
import { startLocalUpstream } from "../test/support/upstreams/openai-upstream.ts";

const SEQUENTIAL = Number(process.env.BENCH_SEQUENTIAL ?? 1_000);
const CONCURRENT_REQUESTS = Number(process.env.BENCH_CONCURRENT_REQUESTS ?? 4_000);
const CONCURRENCY = 64;
const STREAMS = Number(process.env.BENCH_STREAMS ?? 512);
const STALL_MS = Number(process.env.BENCH_STALL_MS ?? 1_000);
const ADMIN_KEY = "bench-admin-key-0123456789abcdef";

const upstream = await startLocalUpstream("vllm", {
  latencyMs: 20,
  replyText: "Hello there, this is a short benchmark answer.",
});
const dataDir = mkdtempSync(join(tmpdir(), "modelpilot-bench-"));
const config = loadConfig({
  LOG_LEVEL: "silent",
  ADMIN_API_KEY: ADMIN_KEY,
  RATE_LIMIT_PER_MINUTE: "1000000",
  ALLOW_PRIVATE_UPSTREAMS: "true",
  DATA_DIR: dataDir,
  RECONCILE_INTERVAL_MS: "3600000",
  METERING_INTERVAL_MS: "3600000",
});
const app = await createApp(config);
await app.listen({ port: 0, host: "127.0.0.1" });
const gatewayUrl = `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}`;

async function json(method: string, path: string, token: string, body?: unknown) {
  const response = await fetch(`${gatewayUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const parsed = await response.json();
  if (!response.ok) {
    throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(parsed)}`);
  }
  return parsed;
}

const account = await json("POST", "/admin/accounts", ADMIN_KEY, { email: "bench@example.com" });
const { key } = await json("POST", `/admin/accounts/${account.id}/api-keys`, ADMIN_KEY, {
  name: "bench",
  permissions: ["read", "proxy", "manage"],
});
await json("POST", "/api/deployments", key, {
  provider: "external",
  name: "bench",
  model: "Qwen/Qwen3-8B",
  base_url: upstream.baseUrl,
});

const chatBody = (model: string, stream = false) =>
  JSON.stringify({
    model,
    stream,
    messages: [{ role: "user", content: "Say hello in a few words." }],
    max_tokens: 32,
  });
const directBody = chatBody("Qwen/Qwen3-8B");
const gatewayBody = chatBody("bench");
const directHeaders = { "content-type": "application/json" };
const gatewayHeaders = { "content-type": "application/json", authorization: `Bearer ${key}` };

async function call(url: string, headers: Record<string, string>, body: string): Promise<number> {
  const start = performance.now();
  const response = await fetch(url, { method: "POST", headers, body });
  await response.arrayBuffer();
  if (response.status !== 200) throw new Error(`HTTP ${response.status} from ${url}`);
  return performance.now() - start;
}
const direct = () => call(`${upstream.baseUrl}/chat/completions`, directHeaders, directBody);
const viaGateway = () => call(`${gatewayUrl}/v1/chat/completions`, gatewayHeaders, gatewayBody);

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}
const round = (value: number, digits = 3) => Number(value.toFixed(digits));

// Warm up connections and JIT on both paths.
for (let i = 0; i < 100; i++) {
  await direct();
  await viaGateway();
}

// ---- concurrency 1: interleaved ----
const directLatencies: number[] = [];
const gatewayLatencies: number[] = [];
for (let i = 0; i < SEQUENTIAL; i++) {
  directLatencies.push(await direct());
  gatewayLatencies.push(await viaGateway());
}

// ---- concurrency 64 ----
async function throughput(run: () => Promise<number>): Promise<number> {
  let issued = 0;
  const start = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (issued < CONCURRENT_REQUESTS) {
      issued++;
      await run();
    }
  }));
  return CONCURRENT_REQUESTS / ((performance.now() - start) / 1000);
}
await throughput(direct); // warm-up at this concurrency (pool growth)
const directRps = await throughput(direct);
const gatewayRps = await throughput(viaGateway);

// ---- concurrent streams ----
upstream.knobs.tokenDelayMs = 100;
upstream.knobs.latencyMs = 0;
const streamBody = chatBody("bench", true);
let stalled = 0;
let completed = 0;
let maxGapMs = 0;
let peakOpen = 0;
const streamStart = performance.now();
await Promise.all(Array.from({ length: STREAMS }, async () => {
  try {
    const response = await fetch(`${gatewayUrl}/v1/chat/completions`, {
      method: "POST",
      headers: gatewayHeaders,
      body: streamBody,
    });
    if (response.status !== 200) throw new Error(`HTTP ${response.status}`);
    const reader = response.body!.getReader();
    let last = performance.now();
    let worst = 0;
    let text = "";
    const decoder = new TextDecoder();
    for (;;) {
      const { done, value } = await reader.read();
      const now = performance.now();
      if (done) break;
      text += decoder.decode(value, { stream: true });
      worst = Math.max(worst, now - last);
      last = now;
      peakOpen = Math.max(peakOpen, upstream.openStreams);
    }
    maxGapMs = Math.max(maxGapMs, worst);
    if (!text.endsWith("data: [DONE]\n\n") || text.includes('"error"')) {
      throw new Error("stream did not complete");
    }
    if (worst > STALL_MS) stalled++;
    else completed++;
  } catch {
    stalled++;
  }
}));
const streamSeconds = (performance.now() - streamStart) / 1000;

await app.get(UsageRecorder).flush();
const p50Added = percentile(gatewayLatencies, 50) - percentile(directLatencies, 50);
const p99Added = percentile(gatewayLatencies, 99) - percentile(directLatencies, 99);
console.log(JSON.stringify(
  {
    upstream_latency_ms: 20,
    concurrency_1: {
      requests: SEQUENTIAL,
      direct_p50_ms: round(percentile(directLatencies, 50)),
      direct_p99_ms: round(percentile(directLatencies, 99)),
      gateway_p50_ms: round(percentile(gatewayLatencies, 50)),
      gateway_p99_ms: round(percentile(gatewayLatencies, 99)),
      added_p50_ms: round(p50Added),
      added_p99_ms: round(p99Added),
      target: "added p50 <= 0.5 ms, p99 <= 2 ms",
      met: p50Added <= 0.5 && p99Added <= 2,
    },
    concurrency_64: {
      requests: CONCURRENT_REQUESTS,
      direct_rps: round(directRps, 1),
      gateway_rps: round(gatewayRps, 1),
      ratio: round(gatewayRps / directRps),
      target: ">= 0.9 of direct",
      met: gatewayRps / directRps >= 0.9,
    },
    streams: {
      opened: STREAMS,
      completed_without_stall: completed,
      stalled_or_failed: stalled,
      peak_concurrent_upstream_streams: peakOpen,
      max_frame_gap_ms: round(maxGapMs, 1),
      stall_threshold_ms: STALL_MS,
      seconds: round(streamSeconds, 2),
      target: ">= 512 concurrent streams without a stalled frame",
      met: completed >= 512 && stalled === 0,
    },
  },
  null,
  2,
));

await app.close();
await upstream.close();
rmSync(dataDir, { recursive: true, force: true });
process.exit(0);
