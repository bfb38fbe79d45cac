/**
 * Gateway benchmark: `npm run bench:gateway`. Prints ONE JSON object with every figure of the
 * performance issue, each beside its baseline measured in the same run, against a local
 * vLLM-like upstream that answers in 20 ms:
 *
 * - the sides: the upstream called directly (the baseline); the gateway as one process
 *   (`gateway_1`, WORKERS=1) and as N processes on one port (`gateway_n`, WORKERS=N, default one
 *   per core), each with API-key auth, routing from the deployments read model, request
 *   normalisation and the InferenceCompleted event; and the floor, two proxies with no logic at
 *   all (bench/support/bare-proxy-process.ts: node:http and Deno.serve), so what one extra hop
 *   costs on this machine is printed beside the gateway's own figure;
 * - `concurrency_1`: added latency p50/p99 at concurrency 1 (medians over rounds of per-round
 *   differences against direct);
 * - `concurrency_64`: requests/s and its ratio to direct (median of per-round ratios), and CPU
 *   time per request of the serving processes (/proc/<pid>/stat; for gateway_n summed over the
 *   supervisor and every worker). At concurrency 64 it is the cost of a request;
 * - `streams`: BENCH_STREAMS (default 4,096) concurrent SSE streams of 20 frames 100 ms apart on
 *   each side; a stream with a gap between frames over BENCH_STALL_MS (default 1000) stalled;
 *   time to first token (first byte of the body) gateway vs direct as a ratio of medians;
 * - `footprint`: start to first healthy answer and resident memory after BENCH_IDLE_MS (default
 *   3000) idle, of BENCH_COLD_STARTS (default 3) fresh single processes, and of the N-process
 *   gateway (each worker and the supervisor);
 * - `store`: bench/events.bench.ts run as a child (embedded appends/s with 64 writers and 1
 *   writer, the 1M-event rebuild), its JSON embedded whole; BENCH_EVENTS and BENCH_RUNS pass
 *   through (BENCH_RUNS defaults to 1 here to keep the run short); BENCH_STORE=0 skips it;
 * - `events`: each gateway recorded exactly one InferenceCompleted per request it served.
 *
 * Every side goes through the same client (node:http, one keep-alive Agent). The order of the
 * sides rotates and reverses from round to round so drift hits all alike. Options (environment):
 * BENCH_SEQUENTIAL requests per side at concurrency 1 (default 900), BENCH_ROUNDS (default 6),
 * BENCH_CONCURRENT_REQUESTS per throughput round (default 3000), BENCH_WORKERS (default: the
 * cores, at least 2), BENCH_FLOOR=0 (skip the no-logic proxies), BENCH_KEEP_GATEWAY_LOGS=1,
 * BENCH_ONLY=streams (only the streams section and the events check: no cold starts, latency,
 * throughput or store; every process is closed before it prints), BENCH_ONLY=throughput (only
 * concurrency 1, concurrency 64 and the events check: no cold starts, streams or store). To
 * profile the single-process gateway: BENCH_GATEWAY_ENTRY=bench/support/profiled-gateway.ts with
 * BENCH_GATEWAY_DENO_FLAGS="--cpu-prof-dir=/tmp/prof --cpu-prof-md".
 */
import { Buffer } from "node:buffer";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { cpus } from "node:os";
import process from "node:process";
import { createInterface } from "node:readline";
import {
  exited,
  type GatewayProcess,
  residentMb,
  startGatewayProcess,
} from "./support/gateway-process.ts";

const SEQUENTIAL = Number(process.env.BENCH_SEQUENTIAL ?? 900);
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 6));
const CONCURRENT_REQUESTS = Number(process.env.BENCH_CONCURRENT_REQUESTS ?? 3_000);
const CONCURRENCY = 64;
const STREAMS = Number(process.env.BENCH_STREAMS ?? 4_096);
const STREAM_FRAMES = 20;
const STREAM_TOKEN_DELAY_MS = 100;
const STALL_MS = Number(process.env.BENCH_STALL_MS ?? 1_000);
const WORKERS = Math.max(2, Number(process.env.BENCH_WORKERS ?? cpus().length));
const COLD_STARTS = Math.max(1, Number(process.env.BENCH_COLD_STARTS ?? 3));
const IDLE_MS = Number(process.env.BENCH_IDLE_MS ?? 3_000);
const GATEWAY_FLAGS = (process.env.BENCH_GATEWAY_DENO_FLAGS ?? "").split(/\s+/).filter(Boolean);
const GATEWAY_ENTRY = process.env.BENCH_GATEWAY_ENTRY ?? "src/main.ts";
const STREAMS_ONLY = process.env.BENCH_ONLY === "streams";
const THROUGHPUT_ONLY = process.env.BENCH_ONLY === "throughput";
const UPSTREAM_LATENCY_MS = 20;
const ADMIN_KEY = "bench-admin-key-0123456789abcdef";
const TICKS_PER_SECOND = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim()) || 100;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

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
  const ready = await new Promise<{ baseUrl: string; pid: number }>((resolve) =>
    lines.once("line", (line) => resolve(JSON.parse(line)))
  );
  return {
    url: new URL(`${ready.baseUrl}/v1/chat/completions`),
    pid: ready.pid,
    async close() {
      child.stdin!.end();
      await exited(child);
    },
  };
}

/** The real service, as `npm start` runs it, on a temporary DATA_DIR. */
function startGateway(workers: number): Promise<GatewayProcess> {
  return startGatewayProcess({
    adminKey: ADMIN_KEY,
    children,
    workers,
    // Profiling flags and entry apply to the single process (the supervisor passes none on).
    denoFlags: workers === 1 ? GATEWAY_FLAGS : [],
    entry: workers === 1 ? GATEWAY_ENTRY : "src/main.ts",
  });
}

/** User + system CPU time of a whole process (all its threads), in milliseconds. */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // Fields 14 and 15 of proc(5) (utime, stime) are 11 and 12 after "pid (comm) ".
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
}

const cpuOf = (pids: number[]) => pids.reduce((sum, pid) => sum + cpuMs(pid), 0);

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

// ---------------------------------------------------------------- footprint

/** Fresh single processes, one after another: start to first healthy answer, RSS when idle. */
async function coldStarts() {
  const runs: Array<{ start_to_first_healthy_ms: number; idle_rss_mb: number }> = [];
  for (let run = 0; run < COLD_STARTS; run++) {
    const gateway = await startGateway(1);
    await sleep(IDLE_MS);
    runs.push({
      start_to_first_healthy_ms: Math.round(gateway.startToHealthyMs),
      idle_rss_mb: residentMb(gateway.pid),
    });
    await gateway.close();
  }
  return {
    start_to_first_healthy_ms: median(runs.map((run) => run.start_to_first_healthy_ms)),
    idle_rss_mb: median(runs.map((run) => run.idle_rss_mb)),
    runs,
  };
}

/** bench/events.bench.ts in a child process; its one JSON object, or why there is none. */
function storeFigures(): Promise<Record<string, unknown>> {
  const child = spawn(process.execPath, ["run", "-A", "bench/events.bench.ts"], {
    // One gateway process for its start-up figure, as this bench's footprint section measures.
    env: { ...process.env, BENCH_RUNS: process.env.BENCH_RUNS ?? "1", WORKERS: "1" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.push(child);
  let stdout = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  return exited(child).then(() => {
    try {
      return JSON.parse(stdout.slice(stdout.indexOf("{")));
    } catch {
      return { error: `bench/events.bench.ts printed no JSON (exit ${child.exitCode})` };
    }
  });
}

// ---------------------------------------------------------------- setup

const footprintSingle = STREAMS_ONLY || THROUGHPUT_ONLY ? undefined : await coldStarts();
const upstream = await startUpstream();
const gatewayOne = await startGateway(1);
const gatewayMany = await startGateway(WORKERS);
await sleep(IDLE_MS);
const manyPids = gatewayMany.pids();
const footprintMany = {
  workers: WORKERS,
  start_to_first_healthy_ms: Math.round(gatewayMany.startToHealthyMs),
  idle_rss_mb_per_process: Object.fromEntries(
    manyPids.map((
      pid,
    ) => [pid === gatewayMany.pid ? "supervisor" : `worker_${pid}`, residentMb(pid)]),
  ),
};
let closeFloor = async () => {};
let closed = false;
/** Stops every process this bench started, once. */
const closeAll = async () => {
  if (closed) return;
  closed = true;
  agent.destroy();
  await closeFloor();
  await gatewayOne.close();
  await gatewayMany.close();
  await upstream.close();
};
const served = { gateway_1: 0, gateway_n: 0 };

try {
  /** An account, a key and a deployment of the upstream on one gateway. */
  const provision = async (gateway: GatewayProcess) => {
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
    return {
      url: new URL(`${gateway.url}/v1/chat/completions`),
      headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
    };
  };
  const gateways = {
    gateway_1: await provision(gatewayOne),
    gateway_n: await provision(gatewayMany),
  };
  // Every worker of gateway_n routes from its own read model, fed live from the store.
  await sleep(500);

  const chatBody = (model: string, stream = false) =>
    JSON.stringify({
      model,
      stream,
      messages: [{ role: "user", content: "Say hello in a few words." }],
      max_tokens: 32,
    });
  const direct = {
    url: new URL(`${upstream.baseUrl}/chat/completions`),
    headers: { "content-type": "application/json" },
  };
  const directBody = chatBody("Qwen/Qwen3-8B");
  const gatewayBody = chatBody("bench");

  // The floor: the same calls through proxies that do nothing but forward (BENCH_FLOOR=0 skips).
  const floorProxies = process.env.BENCH_FLOOR === "0" ? undefined : {
    node_http_proxy: await startBareProxy("node-http", upstream.baseUrl),
    deno_serve_proxy: await startBareProxy("deno-serve", upstream.baseUrl),
  };
  closeFloor = async () => {
    for (const proxy of Object.values(floorProxies ?? {})) await proxy.close();
  };
  type FloorSide = "node_http_proxy" | "deno_serve_proxy";
  type GatewaySide = "gateway_1" | "gateway_n";
  type Side = "direct" | GatewaySide | FloorSide;
  const floorSides: FloorSide[] = floorProxies ? ["node_http_proxy", "deno_serve_proxy"] : [];
  const gatewaySides: GatewaySide[] = ["gateway_1", "gateway_n"];
  const sides: Side[] = ["direct", ...gatewaySides, ...floorSides];
  const isGateway = (side: Side): side is GatewaySide =>
    side === "gateway_1" || side === "gateway_n";
  const target = (side: Side, stream = false) =>
    isGateway(side)
      ? { ...gateways[side], body: stream ? chatBody("bench", true) : gatewayBody }
      : side === "direct"
      ? { ...direct, body: stream ? chatBody("Qwen/Qwen3-8B", true) : directBody }
      : {
        url: floorProxies![side].url,
        headers: direct.headers,
        body: stream ? chatBody("Qwen/Qwen3-8B", true) : directBody,
      };
  const call = async (side: Side): Promise<number> => {
    const { url, headers, body } = target(side);
    const start = performance.now();
    const reply = await send(url, "POST", headers, body);
    const elapsed = performance.now() - start;
    if (isGateway(side)) served[side]++;
    if (reply.status !== 200) throw new Error(`HTTP ${reply.status} (${side}): ${reply.text}`);
    return elapsed;
  };

  /** The processes that serve each side, whose CPU is charged to it. */
  const servingPids: Record<Side, number[]> = {
    direct: [upstream.pid],
    gateway_1: [gatewayOne.pid],
    gateway_n: manyPids,
    node_http_proxy: floorProxies ? [floorProxies.node_http_proxy.pid] : [],
    deno_serve_proxy: floorProxies ? [floorProxies.deno_serve_proxy.pid] : [],
  };
  const cpuTotals = Object.fromEntries(
    sides.map((side) => [side, { requests: 0, servingMs: 0, upstreamMs: 0 }]),
  ) as Record<Side, { requests: number; servingMs: number; upstreamMs: number }>;
  /** Runs `work` and charges the serving processes' and the upstream's CPU to `side`. */
  const withCpu = async <T>(side: Side, requests: number, work: () => Promise<T>) => {
    const pids = servingPids[side].filter((pid) => pid !== upstream.pid);
    const servingBefore = cpuOf(pids);
    const upstreamBefore = cpuMs(upstream.pid);
    const result = await work();
    cpuTotals[side].requests += requests;
    cpuTotals[side].servingMs += cpuOf(pids) - servingBefore;
    cpuTotals[side].upstreamMs += cpuMs(upstream.pid) - upstreamBefore;
    return result;
  };
  const microsPerRequest = (side: Side) => {
    const total = cpuTotals[side];
    return {
      serving: Math.round((total.servingMs * 1000) / total.requests),
      upstream: Math.round((total.upstreamMs * 1000) / total.requests),
    };
  };
  /** The sides rotate, then reverse: each goes first, and each follows every other, alike. */
  const orderOf = (index: number): Side[] => {
    const shift = Math.floor(index / 2) % sides.length;
    const rotated = [...sides.slice(shift), ...sides.slice(0, shift)];
    return index % 2 === 0 ? rotated : rotated.reverse();
  };

  // Warm up connections and JIT on every path.
  for (let i = 0; i < 100; i++) for (const side of sides) await call(side);

  // ---- concurrency 1 ----
  const perRound = Math.max(1, Math.floor(SEQUENTIAL / ROUNDS));
  const latencyRounds: Array<Record<Side, { p50: number; p99: number }>> = [];
  for (let index = 0; index < (STREAMS_ONLY ? 0 : ROUNDS); index++) {
    const figures = {} as Record<Side, { p50: number; p99: number }>;
    for (const side of orderOf(index)) {
      const samples: number[] = [];
      for (let i = 0; i < perRound; i++) samples.push(await call(side));
      figures[side] = { p50: percentile(samples, 50), p99: percentile(samples, 99) };
    }
    latencyRounds.push(figures);
  }
  const added = (side: Side) => ({
    p50_ms: round(median(latencyRounds.map((r) => r[side].p50))),
    p99_ms: round(median(latencyRounds.map((r) => r[side].p99))),
    added_p50_ms: round(median(latencyRounds.map((r) => r[side].p50 - r.direct.p50))),
    added_p99_ms: round(median(latencyRounds.map((r) => r[side].p99 - r.direct.p99))),
  });

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
  if (!STREAMS_ONLY) { for (const side of sides) await throughput(side, CONCURRENCY * 10); }
  const throughputRounds: Array<Record<Side, number>> = [];
  for (let index = 0; index < (STREAMS_ONLY ? 0 : ROUNDS); index++) {
    const figures = {} as Record<Side, number>;
    for (const side of orderOf(index)) {
      figures[side] = await withCpu(
        side,
        CONCURRENT_REQUESTS,
        () => throughput(side, CONCURRENT_REQUESTS),
      );
    }
    throughputRounds.push(figures);
  }
  const throughputOf = (side: Side) => ({
    rps: round(median(throughputRounds.map((r) => r[side])), 1),
    ratio: round(median(throughputRounds.map((r) => r[side] / r.direct))),
    cpu_us_per_request: microsPerRequest(side),
  });

  // ---- concurrent streams ----
  const streamText = Array.from({ length: STREAM_FRAMES }, (_, i) => `word${i}`).join(" ");
  await upstream.setKnobs({
    tokenDelayMs: STREAM_TOKEN_DELAY_MS,
    latencyMs: 0,
    replyText: streamText,
  });
  const streamSides: Side[] = ["direct", ...gatewaySides, ...floorSides];
  const streamRun = async (side: Side) => {
    const { url, headers, body } = target(side, true);
    let stalled = 0;
    let completed = 0;
    let maxGapMs = 0;
    let open = 0;
    let peakOpen = 0;
    const firstByteMs: number[] = [];
    const failures = new Set<string>();
    // When each stalled stream's worst gap ended (half-second buckets from the start of the run):
    // one pause of a whole process shows as one bucket holding most stalls.
    const stallEndsAt: Record<string, number> = {};
    const started = performance.now();
    const servingCpuBefore = servingPids[side].map(cpuMs);
    // This process's own event-loop lag: a pause here delays every stream's frames alike, and
    // would be counted as their stall, whichever side serves them.
    let lastTick = started;
    let clientLag = { ms: 0, atSeconds: 0 };
    const lagProbe = setInterval(() => {
      const now = performance.now();
      if (now - lastTick - 50 > clientLag.ms) {
        clientLag = { ms: now - lastTick - 50, atSeconds: (now - started) / 1000 };
      }
      lastTick = now;
    }, 50);
    await Promise.all(Array.from({ length: STREAMS }, async () => {
      try {
        const sent = performance.now();
        let last = sent;
        let worst = 0;
        let worstEndedAt = 0;
        let first = true;
        open++;
        peakOpen = Math.max(peakOpen, open);
        const reply = await send(url, "POST", headers, body, () => {
          const now = performance.now();
          if (first) firstByteMs.push(now - sent);
          else if (now - last > worst) {
            worst = now - last;
            worstEndedAt = now - started;
          }
          first = false;
          last = now;
        }).finally(() => open--);
        if (isGateway(side)) served[side]++;
        maxGapMs = Math.max(maxGapMs, worst);
        if (reply.status !== 200) throw new Error(`HTTP ${reply.status}`);
        if (!reply.text.endsWith("data: [DONE]\n\n") || reply.text.includes('"error"')) {
          throw new Error("stream did not complete");
        }
        if (worst > STALL_MS) {
          stalled++;
          const bucket = (Math.floor(worstEndedAt / 500) / 2).toFixed(1);
          stallEndsAt[bucket] = (stallEndsAt[bucket] ?? 0) + 1;
        } else completed++;
      } catch (error) {
        failures.add((error as Error).message);
        stalled++;
      }
    }));
    clearInterval(lagProbe);
    return {
      completed_without_stall: completed,
      stalled_or_failed: stalled,
      ...(failures.size > 0 ? { failures: [...failures] } : {}),
      ...(stalled > 0 ? { stalls_ended_at_s: stallEndsAt } : {}),
      load_generator_max_lag_ms: round(clientLag.ms, 1),
      load_generator_max_lag_at_s: round(clientLag.atSeconds, 1),
      peak_open_streams: peakOpen,
      max_frame_gap_ms: round(maxGapMs, 1),
      first_byte_p50_ms: round(percentile(firstByteMs, 50), 1),
      first_byte_p99_ms: round(percentile(firstByteMs, 99), 1),
      seconds: round((performance.now() - started) / 1000, 2),
      // For direct, the upstream's own CPU; for a proxy or gateway, its processes' (not the upstream's).
      serving_cpu_ms_per_stream: round(
        (cpuOf(servingPids[side]) - servingCpuBefore.reduce((sum, ms) => sum + ms, 0)) / STREAMS,
      ),
      // How the N processes shared the work (the kernel spreads connections over the workers).
      ...(side === "gateway_n"
        ? {
          cpu_ms_by_process: Object.fromEntries(
            servingPids[side].map((pid, index) => [
              pid === gatewayMany.pid ? "supervisor" : `worker_${pid}`,
              Math.round(cpuMs(pid) - servingCpuBefore[index]),
            ]),
          ),
        }
        : {}),
    };
  };
  const streamFigures = {} as Record<Side, Awaited<ReturnType<typeof streamRun>>>;
  for (const side of THROUGHPUT_ONLY ? [] : streamSides) {
    streamFigures[side] = await streamRun(side);
  }
  const streamsOf = (side: Side) => ({
    ...streamFigures[side],
    ...(side === "direct" ? {} : {
      first_byte_p50_ratio_to_direct: round(
        streamFigures[side].first_byte_p50_ms / streamFigures.direct.first_byte_p50_ms,
      ),
    }),
  });

  // ---- the events: one InferenceCompleted per request served, none lost, none doubled ----
  const countCompleted = async (gateway: GatewayProcess) => {
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
  const eventsOf = async (gateway: GatewayProcess, requests: number) => {
    let recorded = await countCompleted(gateway);
    for (let wait = 0; recorded < requests && wait < 50; wait++) {
      await sleep(100);
      recorded = await countCompleted(gateway);
    }
    return {
      requests,
      inference_completed_recorded: recorded,
      exactly_once: recorded === requests,
    };
  };
  const events = {
    gateway_1: await eventsOf(gatewayOne, served.gateway_1),
    gateway_n: await eventsOf(gatewayMany, served.gateway_n),
  };

  await closeAll();
  if (STREAMS_ONLY) {
    const streams = Object.fromEntries(streamSides.map((side) => [side, streamsOf(side)]));
    console.log(JSON.stringify(
      {
        streams: {
          streams: STREAMS,
          frames_per_stream: STREAM_FRAMES,
          frame_interval_ms: STREAM_TOKEN_DELAY_MS,
          stall_threshold_ms: STALL_MS,
          ...streams,
        },
        events,
      },
      null,
      2,
    ));
    process.exit(0);
  }
  const latency = Object.fromEntries(
    sides.filter((side) => side !== "direct").map((side) => [side, added(side)]),
  );
  const rates = Object.fromEntries(
    sides.filter((side) => side !== "direct").map((side) => [side, throughputOf(side)]),
  );
  const concurrency1 = {
    requests_per_side: perRound * ROUNDS,
    direct_p50_ms: round(median(latencyRounds.map((r) => r.direct.p50))),
    direct_p99_ms: round(median(latencyRounds.map((r) => r.direct.p99))),
    ...latency,
  };
  const concurrency64 = {
    requests_per_round: CONCURRENT_REQUESTS,
    direct_rps: round(median(throughputRounds.map((r) => r.direct)), 1),
    direct_cpu_us_per_request: microsPerRequest("direct"),
    ...rates,
    rounds: throughputRounds.map((r) =>
      Object.fromEntries(sides.map((side) => [side, round(r[side], 1)]))
    ),
  };
  if (THROUGHPUT_ONLY) {
    console.log(JSON.stringify(
      { concurrency_1: concurrency1, concurrency_64: concurrency64, events },
      null,
      2,
    ));
    process.exit(0);
  }
  const store = process.env.BENCH_STORE === "0"
    ? { skipped: "BENCH_STORE=0" }
    : await storeFigures();

  const streams = Object.fromEntries(streamSides.map((side) => [side, streamsOf(side)]));
  const perWorkerRss = Object.entries(footprintMany.idle_rss_mb_per_process)
    .filter(([name]) => name !== "supervisor").map(([, mb]) => mb);
  const metFor = (side: GatewaySide) => ({
    concurrency_64_ratio: rates[side].ratio >= 0.95,
    added_p50: latency[side].added_p50_ms <= 0.3,
    added_p99: latency[side].added_p99_ms <= 1.5,
    cpu_us_per_request: rates[side].cpu_us_per_request.serving <= 120,
    streams_stall_free: streams[side].completed_without_stall === STREAMS,
    first_byte_within_10_percent: streams[side].first_byte_p50_ratio_to_direct! <= 1.1,
  });
  console.log(JSON.stringify(
    {
      upstream_latency_ms: UPSTREAM_LATENCY_MS,
      setup: {
        processes:
          "load generator (this); upstream; gateway_1 (deno run src/main.ts, WORKERS=1); " +
          `gateway_n (the supervisor and ${WORKERS} workers, WORKERS=${WORKERS}); ` +
          "the floor's two no-logic proxies",
        client: "node:http, one keep-alive Agent for every side",
        gateway_log_level: "warn",
        rounds_per_side: ROUNDS,
        cores: cpus().length,
      },
      targets: {
        concurrency_64_ratio: ">= 0.95",
        added_p50_ms: "<= 0.3",
        added_p99_ms: "<= 1.5",
        cpu_us_per_request_c64: "<= 120",
        streams: `${STREAMS} stall-free, first byte p50 within 10% of direct`,
        store: "appends/s >= 50k (64 writers) / >= 15k (1 writer); 1M rebuild <= 4 s",
        footprint: "idle RSS <= 100 MB, start to first healthy answer <= 500 ms, per process",
      },
      met: {
        gateway_1: metFor("gateway_1"),
        gateway_n: metFor("gateway_n"),
        footprint: {
          idle_rss_single: footprintSingle!.idle_rss_mb <= 100,
          idle_rss_each_worker: perWorkerRss.every((mb) => mb <= 100),
          start_single: footprintSingle!.start_to_first_healthy_ms <= 500,
        },
      },
      concurrency_1: concurrency1,
      concurrency_64: concurrency64,
      streams: {
        streams: STREAMS,
        frames_per_stream: STREAM_FRAMES,
        frame_interval_ms: STREAM_TOKEN_DELAY_MS,
        stall_threshold_ms: STALL_MS,
        ...streams,
      },
      footprint: {
        idle_ms: IDLE_MS,
        single_process: footprintSingle!,
        n_processes: footprintMany,
      },
      store,
      events,
    },
    null,
    2,
  ));
} finally {
  await closeAll();
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
}
process.exit(0);
