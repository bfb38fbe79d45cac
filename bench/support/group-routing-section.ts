/**
 * The group-routing section of `npm run bench:coldstart` (engineer G's half; the file around it
 * measures the wake path). What the gateway adds to a request routed through a model group, next
 * to the same request sent straight to the upstream and through the gateway to the deployment by
 * name, all measured in one run against one local upstream (no artificial latency, so the figures
 * are the gateway's own cost):
 *
 * - `direct`: POST /v1/chat/completions to the upstream;
 * - `deployment`: through the gateway, `model` = the external deployment's name;
 * - `group`: through the gateway, `model` = a `round_robin` group of two deployments of that
 *   upstream (strategy order, cooldown and in-flight bookkeeping, the group facts recorded).
 *
 * Sequential (concurrency 1) requests; the sides rotate from round to round so drift hits all
 * alike. The gateway runs in this process (the app, as the e2e specs boot it), so the client and
 * the gateway share one event loop: absolute figures are a little high, the differences fair.
 * Options: BENCH_GROUP_REQUESTS per side per round (default 400), BENCH_GROUP_ROUNDS (default 5).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { createApp } from "../../src/app.ts";
import { loadConfig } from "../../src/config/config.ts";
import { startLocalUpstream } from "../../test/support/upstreams/openai-upstream.ts";

const ADMIN_KEY = "bench-admin-key-0123456789abcdef";

export interface GroupRoutingFigures {
  requests_per_side: number;
  rounds: number;
  direct_ms: { p50: number; p99: number };
  deployment_added_ms: { p50: number; p99: number };
  group_added_ms: { p50: number; p99: number };
  /** What routing through the group adds over naming the deployment. */
  group_over_deployment_ms: { p50: number; p99: number };
}

export async function groupRoutingSection(): Promise<GroupRoutingFigures> {
  const perSide = Number(process.env.BENCH_GROUP_REQUESTS ?? 400);
  const rounds = Math.max(1, Number(process.env.BENCH_GROUP_ROUNDS ?? 5));
  const dataDir = mkdtempSync(join(tmpdir(), "modelpilot-bench-groups-"));
  const upstream = await startLocalUpstream("vllm");
  const config = loadConfig({
    LOG_LEVEL: "silent",
    ADMIN_API_KEY: ADMIN_KEY,
    DATA_DIR: dataDir,
    PORT: "0",
    HOST: "127.0.0.1",
    ALLOW_PRIVATE_UPSTREAMS: "true",
    RATE_LIMIT_PER_MINUTE: "1000000",
    RATE_LIMIT_PER_KEY_PER_MINUTE: "1000000",
    RATE_LIMIT_PER_ACCOUNT_PER_MINUTE: "1000000",
  });
  const app = await createApp(config);
  await app.listen({ port: 0, host: "127.0.0.1" });
  const gateway = `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}`;
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  try {
    const account = await json(agent, `${gateway}/admin/accounts`, ADMIN_KEY, {
      email: `bench-${Date.now()}@example.com`,
    });
    const key = (await json(agent, `${gateway}/admin/accounts/${account.id}/api-keys`, ADMIN_KEY, {
      name: "bench",
      permissions: ["read", "proxy", "manage"],
    })).key as string;
    for (const name of ["bench-a", "bench-b"]) {
      await json(agent, `${gateway}/api/deployments`, key, {
        provider: "external",
        name,
        model: upstream.knobs.models[0],
        base_url: upstream.baseUrl,
      });
    }
    await json(agent, `${gateway}/api/model-groups`, key, {
      name: "bench-group",
      members: ["bench-a", "bench-b"],
      strategy: "round_robin",
    });
    const body = (model: string) =>
      JSON.stringify({ model, messages: [{ role: "user", content: "hi" }], max_tokens: 4 });
    const sides = {
      direct: () =>
        timed(
          agent,
          `${upstream.baseUrl}/chat/completions`,
          undefined,
          body(upstream.knobs.models[0]),
        ),
      deployment: () => timed(agent, `${gateway}/v1/chat/completions`, key, body("bench-a")),
      group: () => timed(agent, `${gateway}/v1/chat/completions`, key, body("bench-group")),
    };
    const samples: Record<keyof typeof sides, number[]> = { direct: [], deployment: [], group: [] };
    const names = Object.keys(sides) as Array<keyof typeof sides>;
    // Warm-up: JIT, connection pools, read-model caches.
    for (const name of names) for (let i = 0; i < 50; i++) await sides[name]();
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? names : [...names].reverse();
      const rotated = [...order.slice(round % 3), ...order.slice(0, round % 3)];
      for (const name of rotated) {
        for (let i = 0; i < perSide; i++) samples[name].push(await sides[name]());
      }
    }
    const p = (values: number[], q: number) => {
      const sorted = [...values].sort((x, y) => x - y);
      return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
    };
    const figure = (values: number[], base: number[]) => ({
      p50: round2(p(values, 0.5) - p(base, 0.5)),
      p99: round2(p(values, 0.99) - p(base, 0.99)),
    });
    return {
      requests_per_side: perSide * rounds,
      rounds,
      direct_ms: { p50: round2(p(samples.direct, 0.5)), p99: round2(p(samples.direct, 0.99)) },
      deployment_added_ms: figure(samples.deployment, samples.direct),
      group_added_ms: figure(samples.group, samples.direct),
      group_over_deployment_ms: figure(samples.group, samples.deployment),
    };
  } finally {
    agent.destroy();
    await app.close();
    await upstream.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const round2 = (value: number) => Math.round(value * 100) / 100;

function send(
  agent: Agent,
  url: string,
  token: string | undefined,
  payload: string,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (token) headers.authorization = `Bearer ${token}`;
    const req = request(url, { method: "POST", agent, headers }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk) => (text += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(payload);
  });
}

async function json(agent: Agent, url: string, token: string, body: unknown): Promise<any> {
  const { status, text } = await send(agent, url, token, JSON.stringify(body));
  if (status >= 300) throw new Error(`${url}: ${status} ${text}`);
  return JSON.parse(text);
}

async function timed(
  agent: Agent,
  url: string,
  token: string | undefined,
  payload: string,
): Promise<number> {
  const started = performance.now();
  const { status, text } = await send(agent, url, token, payload);
  if (status !== 200) throw new Error(`${url}: ${status} ${text.slice(0, 200)}`);
  return performance.now() - started;
}

if (import.meta.main) {
  // Alone: `deno run -A bench/support/group-routing-section.ts` prints the section's JSON.
  console.log(JSON.stringify({ group_routing: await groupRoutingSection() }));
  process.exit(0);
}
