/**
 * Realtime benchmark: `npm run bench:realtime`. Prints ONE JSON object comparing, in one run,
 * WebSocket sessions opened directly on a local realtime upstream with the same sessions opened
 * through the gateway's `/v1/realtime` (API-key auth, routing, the relay, usage events):
 *
 * - the round trip of one event (`session.update` → `session.updated`), p50/p99 on each side
 *   and the difference, sequential on one session per side, the sides alternating by round;
 * - how many concurrent sessions the gateway holds with no stalled event: steps of 64, 128,
 *   256, … up to BENCH_REALTIME_MAX_SESSIONS; at each step every session opens, then all ask
 *   for a streamed response at once. A step holds when every session opened and completed its
 *   response and no session waited longer than BENCH_STALL_MS (default 1000) between two
 *   events. The figure is the largest step that held; the run stops at the first that did not.
 *
 * Processes: the upstream (bench/support/realtime-upstream-process.ts), the gateway (the real
 * service, `deno run src/main.ts` with `npm start`'s permissions, LOG_LEVEL=warn, a temporary
 * DATA_DIR) and this one, which only drives clients. Plain ws: both sides skip TLS alike (the
 * wss: path is covered by test/realtime/). At the end the bench checks that the gateway recorded
 * one RealtimeResponseCompleted per response it relayed.
 *
 * Options (environment): BENCH_ROUND_TRIPS per side per round (default 500), BENCH_ROUNDS
 * (default 4), BENCH_REALTIME_MAX_SESSIONS (default 1024), BENCH_STALL_MS (default 1000),
 * BENCH_DELTA_DELAY_MS between the upstream's deltas (default 5), BENCH_KEEP_GATEWAY_LOGS=1.
 */
import type { ChildProcess } from "node:child_process";
import { spawn } from "node:child_process";
import { join } from "node:path";
import process from "node:process";
import {
  exited,
  freePort,
  type GatewayProcess,
  startGatewayProcess,
} from "./support/gateway-process.ts";
import { createInterface } from "node:readline";
import { WebSocket } from "ws";

const ROUND_TRIPS = Number(process.env.BENCH_ROUND_TRIPS ?? 500);
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 4));
const MAX_SESSIONS = Number(process.env.BENCH_REALTIME_MAX_SESSIONS ?? 1024);
const STALL_MS = Number(process.env.BENCH_STALL_MS ?? 1_000);
const DELTA_DELAY_MS = Number(process.env.BENCH_DELTA_DELAY_MS ?? 5);
const RESPONSE_TIMEOUT_MS = 30_000;
const OPEN_BATCH = 64;
const ADMIN_KEY = "bench-admin-key-0123456789abcdef";
const MODEL = "bench-voice";

// ---------------------------------------------------------------- processes

const children: ChildProcess[] = [];

async function startUpstream() {
  const child = spawn(
    process.execPath,
    ["run", "-A", "bench/support/realtime-upstream-process.ts"],
    {
      stdio: ["pipe", "pipe", "inherit"],
    },
  );
  children.push(child);
  const lines = createInterface({ input: child.stdout! });
  const replies: Array<(line: string) => void> = [];
  lines.on("line", (line) => replies.shift()?.(line));
  const next = () =>
    new Promise<any>((resolve) => replies.push((line) => resolve(JSON.parse(line))));
  const ready = await next() as { baseUrl: string };
  const send = (command: unknown) => {
    const reply = next();
    child.stdin!.write(`${JSON.stringify(command)}\n`);
    return reply;
  };
  return {
    baseUrl: ready.baseUrl,
    setKnobs: (knobs: Record<string, unknown>) => send({ knobs }),
    openSessions: async () => (await send({ stats: true })).openSessions as number,
    async close() {
      child.stdin!.end();
      await exited(child);
    },
  };
}

function startGateway(): Promise<GatewayProcess> {
  return startGatewayProcess({
    adminKey: ADMIN_KEY,
    children,
    dataDirPrefix: "modelpilot-bench-realtime-",
  });
}

async function json(url: string, method: string, token: string, body?: unknown) {
  const response = await fetch(url, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const parsed = await response.json();
  if (response.status >= 300) {
    throw new Error(`${method} ${url}: ${response.status} ${JSON.stringify(parsed)}`);
  }
  return parsed;
}

// ---------------------------------------------------------------- sessions

/** A session that keeps only what the bench needs: arrival times and one waiter per type. */
class BenchSession {
  readonly socket: WebSocket;
  readonly opened: Promise<void>;
  readonly arrivals: number[] = [];
  private waiting = new Map<string, (event: any) => void>();
  /** Events that arrived before anyone waited for them, the last few of each type. */
  private unclaimed = new Map<string, any[]>();

  constructor(url: string, headers: Record<string, string> = {}, readonly label = "session") {
    this.socket = new WebSocket(url, { headers, perMessageDeflate: false });
    this.opened = new Promise((resolve, reject) => {
      this.socket.once("open", () => resolve());
      this.socket.once("error", reject);
      this.socket.once(
        "unexpected-response",
        (_request, response) => reject(new Error(`upgrade refused: ${response.statusCode}`)),
      );
    });
    this.opened.catch(() => undefined);
    this.socket.on("error", () => undefined);
    this.socket.on("message", (data) => {
      this.arrivals.push(performance.now());
      const event = JSON.parse(data.toString());
      const waiter = this.waiting.get(event.type);
      if (waiter) {
        this.waiting.delete(event.type);
        return waiter(event);
      }
      const kept = this.unclaimed.get(event.type) ?? [];
      kept.push(event);
      if (kept.length > 16) kept.shift();
      this.unclaimed.set(event.type, kept);
    });
  }

  next(type: string, timeoutMs = RESPONSE_TIMEOUT_MS): Promise<any> {
    const early = this.unclaimed.get(type)?.shift();
    if (early) return Promise.resolve(early);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(type);
        const seen = [...this.unclaimed.keys()].join(",") || "nothing";
        reject(
          new Error(
            `no ${type} within ${timeoutMs} ms on ${this.label} (state ${this.socket.readyState}, ` +
              `${this.arrivals.length} frames, unclaimed: ${seen})`,
          ),
        );
      }, timeoutMs);
      this.waiting.set(type, (event) => {
        clearTimeout(timer);
        resolve(event);
      });
    });
  }

  send(event: unknown): void {
    this.socket.send(JSON.stringify(event));
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.readyState === WebSocket.CLOSED) return resolve();
      this.socket.once("close", () => resolve());
      this.socket.close(1000);
      setTimeout(() => this.socket.terminate(), 5_000).unref?.();
    });
  }
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

const round3 = (value: number) => Math.round(value * 1000) / 1000;

// ---------------------------------------------------------------- the run

const upstream = await startUpstream();
const gateway = await startGateway();
let responsesThroughGateway = 0;
/**
 * Sessions whose `session.created` never arrived although the socket opened (later events still
 * flow): counted and reported rather than failing the run on them.
 */
let lostFirstEvents = 0;
const firstEvent = async (session: BenchSession) => {
  try {
    await session.next("session.created", 2_000);
  } catch {
    if (session.socket.readyState !== WebSocket.OPEN) throw new Error(`${session.label} closed`);
    lostFirstEvents += 1;
  }
};
try {
  const account = await json(`${gateway.url}/admin/accounts`, "POST", ADMIN_KEY, {
    email: "bench-realtime@example.com",
  });
  const { key } = await json(
    `${gateway.url}/admin/accounts/${account.id}/api-keys`,
    "POST",
    ADMIN_KEY,
    {
      name: "bench",
      permissions: ["read", "proxy", "manage"],
    },
  );
  await json(`${gateway.url}/api/deployments`, "POST", key, {
    provider: "external",
    name: MODEL,
    model: MODEL,
    base_url: upstream.baseUrl,
    realtime: true,
  });
  const direct = () =>
    new BenchSession(
      `${upstream.baseUrl.replace("http:", "ws:")}/realtime?model=${MODEL}`,
      {},
      "direct",
    );
  const viaGateway = () =>
    new BenchSession(`${gateway.url.replace("http:", "ws:")}/v1/realtime?model=${MODEL}`, {
      authorization: `Bearer ${key}`,
    }, "gateway");

  // ---- round trip of one event
  const samples = { direct: [] as number[], gateway: [] as number[] };
  const sessions = { direct: direct(), gateway: viaGateway() };
  await Promise.all([sessions.direct.opened, sessions.gateway.opened]);
  await Promise.all([firstEvent(sessions.direct), firstEvent(sessions.gateway)]);
  const roundTrip = async (session: BenchSession, n: number) => {
    const reply = session.next("session.updated", 10_000);
    const started = performance.now();
    session.send({ type: "session.update", session: { instructions: `round trip ${n}` } });
    await reply;
    return performance.now() - started;
  };
  // A warm-up on each side, then rounds whose order alternates so drift hits both alike.
  for (let i = 0; i < 50; i++) {
    await roundTrip(sessions.direct, i);
    await roundTrip(sessions.gateway, i);
  }
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0
      ? (["direct", "gateway"] as const)
      : (["gateway", "direct"] as const);
    for (const side of order) {
      for (let i = 0; i < ROUND_TRIPS; i++) samples[side].push(await roundTrip(sessions[side], i));
    }
  }
  await Promise.all([sessions.direct.close(), sessions.gateway.close()]);
  const stats = (values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b);
    return { p50: round3(percentile(sorted, 50)), p99: round3(percentile(sorted, 99)) };
  };
  const directStats = stats(samples.direct);
  const gatewayStats = stats(samples.gateway);

  // ---- concurrent sessions with no stalled event
  await upstream.setKnobs({ deltaDelayMs: DELTA_DELAY_MS });
  const steps: Array<Record<string, number | boolean>> = [];
  let held = 0;
  for (let size = 64; size <= MAX_SESSIONS; size *= 2) {
    const started = performance.now();
    const open: BenchSession[] = [];
    let opened = 0;
    const lostBefore = lostFirstEvents;
    for (let i = 0; i < size; i += OPEN_BATCH) {
      const batch = Array.from({ length: Math.min(OPEN_BATCH, size - i) }, viaGateway);
      open.push(...batch);
      const results = await Promise.allSettled(batch.map(async (session) => {
        await session.opened;
        await firstEvent(session);
      }));
      opened += results.filter((result) => result.status === "fulfilled").length;
    }
    const openMs = performance.now() - started;
    const asked = performance.now();
    const outcomes = await Promise.allSettled(open.map(async (session, index) => {
      const from = session.arrivals.length;
      const done = session.next("response.done");
      const sent = performance.now();
      session.send({
        type: "conversation.item.create",
        item: {
          type: "message",
          role: "user",
          content: [{ type: "input_text", text: `n ${index}` }],
        },
      });
      session.send({ type: "response.create" });
      await done;
      const times = [sent, ...session.arrivals.slice(from)];
      return times.slice(1).reduce((gap, at, i) => Math.max(gap, at - times[i]), 0);
    }));
    const responsesMs = performance.now() - asked;
    const gaps = outcomes.flatMap((
      outcome,
    ) => (outcome.status === "fulfilled" ? [outcome.value] : []))
      .sort((a, b) => a - b);
    responsesThroughGateway += gaps.length;
    const stalled = gaps.filter((gap) => gap > STALL_MS).length;
    const completed = gaps.length;
    const ok = opened === size && completed === size && stalled === 0;
    steps.push({
      sessions: size,
      opened,
      session_created_lost: lostFirstEvents - lostBefore,
      completed,
      stalled,
      held: ok,
      open_ms: Math.round(openMs),
      responses_ms: Math.round(responsesMs),
      longest_gap_ms: round3(gaps.at(-1) ?? NaN),
      p99_gap_ms: round3(percentile(gaps, 99)),
    });
    await Promise.all(open.map((session) => session.close()));
    const deadline = performance.now() + 15_000;
    while ((await upstream.openSessions()) > 0 && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    if (!ok) break;
    held = size;
  }

  // ---- one RealtimeResponseCompleted per response relayed (the 2×(50+rounds) round trips make none)
  let recorded = 0;
  let after: string | null = null;
  for (let page = 0; page < 10_000; page++) {
    const query = `type=RealtimeResponseCompleted&limit=1000${after ? `&after=${after}` : ""}`;
    const listed = await json(`${gateway.url}/admin/events?${query}`, "GET", ADMIN_KEY);
    recorded += listed.data.length;
    if (!listed.has_more) break;
    after = listed.next_after;
  }

  process.stdout.write(`${
    JSON.stringify({
      bench: "realtime",
      transport: "ws: on loopback (TLS off on both sides)",
      round_trip_ms: {
        event: "session.update -> session.updated",
        samples_per_side: samples.direct.length,
        direct: directStats,
        gateway: gatewayStats,
        added: {
          p50: round3(gatewayStats.p50 - directStats.p50),
          p99: round3(gatewayStats.p99 - directStats.p99),
        },
      },
      concurrent_sessions: {
        held_without_stall: held,
        max_tried: MAX_SESSIONS,
        stall_threshold_ms: STALL_MS,
        upstream_delta_delay_ms: DELTA_DELAY_MS,
        steps,
      },
      events: {
        session_created_lost: lostFirstEvents,
        responses_relayed: responsesThroughGateway,
        realtime_response_completed: recorded,
        one_per_response: recorded === responsesThroughGateway,
      },
    })
  }\n`);
} finally {
  await gateway.close().catch(() => undefined);
  await upstream.close().catch(() => undefined);
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
}
process.exit(0);
