/**
 * Gateway benchmark: `npm run bench:gateway`. Prints ONE JSON object comparing, in one run,
 * direct calls to a local vLLM-like upstream that answers in 20 ms with the same calls through
 * the gateway (API-key auth, routing from the deployments read model, request normalisation,
 * the InferenceCompleted event):
 *
 * - added latency p50/p99 at concurrency 1;
 * - requests/s at concurrency 64, direct and through the gateway, and their ratio;
 * - concurrent streams held open through the gateway with no stalled frame (a gap between
 *   frames over BENCH_STALL_MS, default 1000 ms, counts as a stall);
 * - the floor: added latency and throughput ratio of two proxies with no logic at all
 *   (bench/support/bare-proxy-process.ts, node:http and Deno.serve), measured in the same
 *   rounds, so what one extra hop costs on this machine is printed beside the gateway's figure;
 * - CPU time per request of each process (from /proc/<pid>/stat), so a result that is bound by
 *   the shared cores shows where the CPU went. At concurrency 64 it is the cost of a request; at
 *   concurrency 1 it also holds what an idle process spends waking up for each request.
 *
 * Processes: the upstream (bench/support/upstream-process.ts), the gateway (the real service,
 * `deno run src/main.ts` with `npm start`'s permissions, LOG_LEVEL=warn, a temporary DATA_DIR),
 * the two no-logic proxies, and this one, which only generates load. Every side goes through the
 * same client (node:http, one keep-alive Agent). The order of the sides rotates and reverses
 * from round to round so drift hits all alike; the figures are medians over rounds. At the end the
 * bench checks that the gateway recorded exactly one InferenceCompleted per request it served.
 *
 * Options (environment): BENCH_SEQUENTIAL requests per side at concurrency 1 (default 1200),
 * BENCH_ROUNDS rounds per side for both latency and throughput (default 6),
 * BENCH_CONCURRENT_REQUESTS per throughput round (default 3000), BENCH_STREAMS (default 512),
 * BENCH_STALL_MS (default 1000), BENCH_FLOOR=0 (skip the no-logic proxies),
 * BENCH_KEEP_GATEWAY_LOGS=1 (gateway stderr to ours). To profile the gateway: BENCH_GATEWAY_ENTRY=bench/support/profiled-gateway.ts (exits cleanly on SIGTERM)
 * with BENCH_GATEWAY_DENO_FLAGS="--cpu-prof-dir=/tmp/prof --cpu-prof-md".
 */
import { Buffer } from "node:buffer";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { cpus } from "node:os";
import process from "node:process";
import {
  exited,
  freePort,
  type GatewayProcess,
  startGatewayProcess,
} from "./support/gateway-process.ts";
import { createInterface } from "node:readline";

const SEQUENTIAL = Number(process.env.BENCH_SEQUENTIAL ?? 1_200);
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 6));
const CONCURRENT_REQUESTS = Number(process.env.BENCH_CONCURRENT_REQUESTS ?? 3_000);
const CONCURRENCY = 64;
const STREAMS = Number(process.env.BENCH_STREAMS ?? 512);
const STALL_MS = Number(process.env.BENCH_STALL_MS ?? 1_000);
const GATEWAY_FLAGS = (process.env.BENCH_GATEWAY_DENO_FLAGS ?? "").split(/\s+/).filter(Boolean);
const GATEWAY_ENTRY = process.env.BENCH_GATEWAY_ENTRY ?? "src/main.ts";
const UPSTREAM_LATENCY_MS = 20;
const ADMIN_KEY = "bench-admin-key-0123456789abcdef";
const TICKS_PER_SECOND = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim()) || 100;

// ---------------------------------------------------------------- processes

const children: ChildProcess[] = [];

/** The upstream, answering control lines on stdin (see upstream-process.ts). */
async function startUpstream() {
  const child = spawn(process.execPath, ["run", "-A", "bench/support/upstream-process.ts"], {
    env: { ...process.env, BENCH_UPSTREAM_LATENCY_MS: String(UPSTREAM_LATENCY_MS) },
    stdio: ["pipe", "pipe", "inherit"],
  });
  children.push(child);
  const lines = createInterface({ input: child.stdout! });
  const replies: Array<(line: string) => void> = [];
  lines.on("line", (line) => replies.shift()?.(line));
  const next = () =>
    new Promise<any>((resolve) => replies.push((line) => resolve(JSON.parse(line))));
  const ready = await next() as { baseUrl: string; pid: number };
  const send = (command: unknown) => {
    const reply = next();
    child.stdin!.write(`${JSON.stringify(command)}\n`);
    return reply;
  };
  return {
    baseUrl: ready.baseUrl,
    pid: child.pid!,
    setKnobs: (knobs: Record<string, unknown>) => send({ knobs }),
    stats: () => send({ stats: true }) as Promise<{ peakOpenStreams: number }>,
    async close() {
      child.stdin!.end();
      await exited(child);
    },
  };
}

/** A no-logic proxy in front of the upstream (see bare-proxy-process.ts). */
async function startBareProxy(server: "node-http" | "deno-serve", upstreamUrl: string) {
  const child = spawn(process.execPath, ["run", "-A", "bench/support/bare-proxy-process.ts"], {
    env: { ...process.env, BENCH_UPSTREAM_URL: upstreamUrl, BENCH_PROXY_SERVER: server },
    stdio: ["pipe", "pipe", "inherit"],
  });
  children.push(child);
  const lines = createInterface({ input: child.stdout! });
  const ready = await new Promise<{ baseUrl: string }>((resolve) =>
    lines.once("line", (line) => resolve(JSON.parse(line)))
  );
  return {
    url: new URL(`${ready.baseUrl}/v1/chat/completions`),
    async close() {
      child.stdin!.end();
      await exited(child);
    },
  };
}

/** The real service, as `npm start` runs it, on a temporary DATA_DIR. */
function startGateway(): Promise<GatewayProcess> {
  return startGatewayProcess({
    adminKey: ADMIN_KEY,
    children,
    denoFlags: GATEWAY_FLAGS,
    entry: GATEWAY_ENTRY,
  });
}

/** User + system CPU time of a whole process (all its threads), in milliseconds. */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // Fields 14 and 15 of proc(5) (utime, stime) are 11 and 12 after "pid (comm) ".
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
}

// ---------------------------------------------------------------- the client

const agent = new Agent({ keepAlive: true, maxSockets: Infinity });

interface Reply {
  status: number;
  text: string;
}

/** One request through the shared keep-alive Agent; the whole body is read. */
function send(
  url: URL,
  method: string,
  headers: Record<string, string>,
  body?: string,
  onData?: (chunk: Buffer) => void,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const outgoing = body === undefined
      ? headers
      : { ...headers, "content-length": String(Buffer.byteLength(body)) };
    const req = request({
      host: url.hostname,
      port: url.port,
      path: url.pathname + url.search,
      method,
      agent,
      headers: outgoing,
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => {
        chunks.push(chunk);
        onData?.(chunk);
      });
      res.on(
        "end",
        () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }),
      );
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

async function json(base: string, method: string, path: string, token: string, body?: unknown) {
  const reply = await send(new URL(path, base), method, {
    authorization: `Bearer ${token}`,
    "content-type": "application/json",
  }, body === undefined ? undefined : JSON.stringify(body));
  const parsed = JSON.parse(reply.text);
  if (reply.status >= 300) throw new Error(`${method} ${path}: ${reply.status} ${reply.text}`);
  return parsed;
}

// ---------------------------------------------------------------- statistics

type ProcessCpu = { bench: number; gateway: number; upstream: number };
type CpuTotals = ProcessCpu & { requests: number };

const newCpuTotals = (): CpuTotals => ({ requests: 0, bench: 0, gateway: 0, upstream: 0 });

function addCpu(total: CpuTotals, requests: number, cpu: ProcessCpu): void {
  total.requests += requests;
  total.bench += cpu.bench;
  total.gateway += cpu.gateway;
  total.upstream += cpu.upstream;
}

/** Microseconds of CPU per request, per process. */
const perRequestMicros = (total: CpuTotals): ProcessCpu => ({
  bench: Math.round((total.bench * 1000) / total.requests),
  gateway: Math.round((total.gateway * 1000) / total.requests),
  upstream: Math.round((total.upstream * 1000) / total.requests),
});

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}
const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};
const round = (value: number, digits = 3) => Number(value.toFixed(digits));

// ---------------------------------------------------------------- setup

const upstream = await startUpstream();
const gateway = await startGateway();
let gatewayRequests = 0;
let closeFloor = async () => {};

try {
  const account = await json(gateway.url, "POST", "/admin/accounts", ADMIN_KEY, {
    email: "bench@example.com",
  });
  const { key } = await json(
    gateway.url,
    "POST",
    `/admin/accounts/${account.id}/api-keys`,
    ADMIN_KEY,
    { name: "bench", permissions: ["read", "proxy", "manage"] },
  );
  await json(gateway.url, "POST", "/api/deployments", key, {
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
  const directUrl = new URL(`${upstream.baseUrl}/chat/completions`);
  const gatewayUrl = new URL(`${gateway.url}/v1/chat/completions`);
  const directBody = chatBody("Qwen/Qwen3-8B");
  const gatewayBody = chatBody("bench");
  const directHeaders = { "content-type": "application/json" };
  const gatewayHeaders = { "content-type": "application/json", authorization: `Bearer ${key}` };

  // The floor: the same calls through proxies that do nothing but forward (BENCH_FLOOR=0 skips).
  const floorProxies = process.env.BENCH_FLOOR === "0" ? undefined : {
    node_http_proxy: await startBareProxy("node-http", upstream.baseUrl),
    deno_serve_proxy: await startBareProxy("deno-serve", upstream.baseUrl),
  };
  closeFloor = async () => {
    for (const proxy of Object.values(floorProxies ?? {})) await proxy.close();
  };
  type FloorSide = "node_http_proxy" | "deno_serve_proxy";
  type Side = "direct" | "gateway" | FloorSide;
  const floorSides: FloorSide[] = floorProxies ? ["node_http_proxy", "deno_serve_proxy"] : [];
  const sides: Side[] = ["direct", "gateway", ...floorSides];
  const call = async (side: Side): Promise<number> => {
    const start = performance.now();
    const reply = side === "direct"
      ? await send(directUrl, "POST", directHeaders, directBody)
      : side === "gateway"
      ? await send(gatewayUrl, "POST", gatewayHeaders, gatewayBody)
      : await send(floorProxies![side].url, "POST", directHeaders, directBody);
    const elapsed = performance.now() - start;
    if (side === "gateway") gatewayRequests++;
    if (reply.status !== 200) throw new Error(`HTTP ${reply.status} (${side}): ${reply.text}`);
    return elapsed;
  };

  /** CPU milliseconds each process spent while `work` ran. */
  const withCpu = async <T>(work: () => Promise<T>) => {
    const pids = { bench: process.pid, gateway: gateway.pid, upstream: upstream.pid };
    const before = Object.fromEntries(
      Object.entries(pids).map(([name, pid]) => [name, cpuMs(pid)]),
    );
    const result = await work();
    const cpu = Object.fromEntries(
      Object.entries(pids).map(([name, pid]) => [name, cpuMs(pid) - before[name]]),
    ) as ProcessCpu;
    return { result, cpu };
  };
  const cpuTotals = {
    concurrency_1: { direct: newCpuTotals(), gateway: newCpuTotals() },
    concurrency_64: { direct: newCpuTotals(), gateway: newCpuTotals() },
  };
  /** The sides rotate, then reverse: each goes first, and each follows every other, alike. */
  const orderOf = (index: number): Side[] => {
    const shift = Math.floor(index / 2) % sides.length;
    const rotated = [...sides.slice(shift), ...sides.slice(0, shift)];
    return index % 2 === 0 ? rotated : rotated.reverse();
  };
  const isMeasuredCpu = (side: Side): side is "direct" | "gateway" =>
    side === "direct" || side === "gateway";

  // Warm up connections and JIT on every path, then pool growth at the high concurrency.
  for (let i = 0; i < 200; i++) for (const side of sides) await call(side);

  // ---- concurrency 1 ----
  const perRound = Math.max(1, Math.floor(SEQUENTIAL / ROUNDS));
  const latencies = Object.fromEntries(sides.map((side) => [side, []])) as unknown as Record<
    Side,
    number[]
  >;
  const latencyRounds: Array<Record<Side, { p50: number; p99: number }>> = [];
  for (let index = 0; index < ROUNDS; index++) {
    const figures = {} as Record<Side, { p50: number; p99: number }>;
    for (const side of orderOf(index)) {
      const { result, cpu } = await withCpu(async () => {
        const samples: number[] = [];
        for (let i = 0; i < perRound; i++) samples.push(await call(side));
        return samples;
      });
      if (isMeasuredCpu(side)) addCpu(cpuTotals.concurrency_1[side], result.length, cpu);
      latencies[side].push(...result);
      figures[side] = { p50: percentile(result, 50), p99: percentile(result, 99) };
    }
    latencyRounds.push(figures);
  }
  const addedP50 = median(latencyRounds.map((r) => r.gateway.p50 - r.direct.p50));
  const addedP99 = median(latencyRounds.map((r) => r.gateway.p99 - r.direct.p99));

  // ---- concurrency 64 ----
  const throughput = async (side: Side, requests: number) => {
    let issued = 0;
    const start = performance.now();
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      while (issued < requests) {
        issued++;
        await call(side);
      }
    }));
    return requests / ((performance.now() - start) / 1000);
  };
  for (const side of sides) await throughput(side, CONCURRENCY * 10);
  const throughputRounds: Array<Record<Side, number>> = [];
  for (let index = 0; index < ROUNDS; index++) {
    const figures = {} as Record<Side, number>;
    for (const side of orderOf(index)) {
      const { result, cpu } = await withCpu(() => throughput(side, CONCURRENT_REQUESTS));
      if (isMeasuredCpu(side)) addCpu(cpuTotals.concurrency_64[side], CONCURRENT_REQUESTS, cpu);
      figures[side] = result;
    }
    throughputRounds.push(figures);
  }
  const directRps = median(throughputRounds.map((r) => r.direct));
  const gatewayRps = median(throughputRounds.map((r) => r.gateway));
  const ratio = median(throughputRounds.map((r) => r.gateway / r.direct));
  const floor = Object.fromEntries(floorSides.map((side) => [side, {
    added_p50_ms: round(median(latencyRounds.map((r) => r[side].p50 - r.direct.p50))),
    added_p99_ms: round(median(latencyRounds.map((r) => r[side].p99 - r.direct.p99))),
    concurrency_64_ratio: round(median(throughputRounds.map((r) => r[side] / r.direct))),
  }]));

  // ---- concurrent streams ----
  await upstream.setKnobs({ tokenDelayMs: 100, latencyMs: 0 });
  const streamBody = chatBody("bench", true);
  let stalled = 0;
  let completed = 0;
  let maxGapMs = 0;
  const streamFailures = new Set<string>();
  const streamStart = performance.now();
  await Promise.all(Array.from({ length: STREAMS }, async () => {
    try {
      let last = performance.now();
      let worst = 0;
      const reply = await send(gatewayUrl, "POST", gatewayHeaders, streamBody, () => {
        const now = performance.now();
        worst = Math.max(worst, now - last);
        last = now;
      });
      gatewayRequests++;
      maxGapMs = Math.max(maxGapMs, worst);
      if (reply.status !== 200) throw new Error(`HTTP ${reply.status}`);
      if (!reply.text.endsWith("data: [DONE]\n\n") || reply.text.includes('"error"')) {
        throw new Error("stream did not complete");
      }
      if (worst > STALL_MS) stalled++;
      else completed++;
    } catch (error) {
      streamFailures.add((error as Error).message);
      stalled++;
    }
  }));
  const streamSeconds = (performance.now() - streamStart) / 1000;
  const { peakOpenStreams } = await upstream.stats();

  // ---- the events: one InferenceCompleted per request served, none lost, none doubled ----
  const countCompleted = async () => {
    let after = "0";
    let count = 0;
    for (;;) {
      const page = await json(
        gateway.url,
        "GET",
        `/admin/events?type=InferenceCompleted&limit=1000&after=${after}`,
        ADMIN_KEY,
      );
      count += page.data.length;
      if (!page.has_more) return count;
      after = page.next_after;
    }
  };
  let recorded = await countCompleted();
  for (let wait = 0; recorded < gatewayRequests && wait < 50; wait++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    recorded = await countCompleted();
  }

  const pooledDirectP50 = percentile(latencies.direct, 50);
  const pooledDirectP99 = percentile(latencies.direct, 99);
  const pooledGatewayP50 = percentile(latencies.gateway, 50);
  const pooledGatewayP99 = percentile(latencies.gateway, 99);
  console.log(JSON.stringify(
    {
      upstream_latency_ms: UPSTREAM_LATENCY_MS,
      setup: {
        processes: "load generator (this), gateway (deno run src/main.ts), upstream, " +
          "and the floor's two no-logic proxies: one each",
        client: "node:http, one keep-alive Agent for every side",
        gateway_log_level: "warn",
        rounds_per_side: ROUNDS,
        cores: cpus().length,
      },
      concurrency_1: {
        requests: perRound * ROUNDS,
        direct_p50_ms: round(pooledDirectP50),
        direct_p99_ms: round(pooledDirectP99),
        gateway_p50_ms: round(pooledGatewayP50),
        gateway_p99_ms: round(pooledGatewayP99),
        added_p50_ms: round(addedP50),
        added_p99_ms: round(addedP99),
        added_pooled_p50_ms: round(pooledGatewayP50 - pooledDirectP50),
        added_pooled_p99_ms: round(pooledGatewayP99 - pooledDirectP99),
        rounds: latencyRounds.map((r) => ({
          direct_p50_ms: round(r.direct.p50),
          gateway_p50_ms: round(r.gateway.p50),
          direct_p99_ms: round(r.direct.p99),
          gateway_p99_ms: round(r.gateway.p99),
        })),
        cpu_us_per_request: {
          direct: perRequestMicros(cpuTotals.concurrency_1.direct),
          gateway: perRequestMicros(cpuTotals.concurrency_1.gateway),
        },
        target: "added p50 <= 0.5 ms, p99 <= 2 ms (medians over rounds)",
        met: addedP50 <= 0.5 && addedP99 <= 2,
      },
      concurrency_64: {
        requests: CONCURRENT_REQUESTS,
        direct_rps: round(directRps, 1),
        gateway_rps: round(gatewayRps, 1),
        ratio: round(ratio),
        rounds: throughputRounds.map((r) => ({
          direct_rps: round(r.direct, 1),
          gateway_rps: round(r.gateway, 1),
        })),
        cpu_us_per_request: {
          direct: perRequestMicros(cpuTotals.concurrency_64.direct),
          gateway: perRequestMicros(cpuTotals.concurrency_64.gateway),
        },
        target: ">= 0.9 of direct (median of per-round ratios)",
        met: ratio >= 0.9,
      },
      floor: {
        what: "the same calls through proxies with no logic at all (fetch forward, whole reply), " +
          "each in its own process: the cost of one extra hop on this machine",
        ...floor,
      },
      streams: {
        opened: STREAMS,
        completed_without_stall: completed,
        stalled_or_failed: stalled,
        ...(streamFailures.size > 0 ? { failures: [...streamFailures] } : {}),
        peak_concurrent_upstream_streams: peakOpenStreams,
        max_frame_gap_ms: round(maxGapMs, 1),
        stall_threshold_ms: STALL_MS,
        seconds: round(streamSeconds, 2),
        target: ">= 512 concurrent streams without a stalled frame",
        met: completed >= 512 && stalled === 0,
      },
      events: {
        gateway_requests: gatewayRequests,
        inference_completed_recorded: recorded,
        exactly_once: recorded === gatewayRequests,
      },
    },
    null,
    2,
  ));
} finally {
  agent.destroy();
  await closeFloor();
  await gateway.close();
  await upstream.close();
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
}
process.exit(0);
