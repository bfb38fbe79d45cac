/**
 * Cold-start benchmark: `npm run bench:coldstart`. Prints ONE JSON object, in one run:
 *
 * - `wake`: how much the wake path adds to the simulator's own boot and warm-up. N times a pod
 *   deployment is put to sleep (the idle sweep, ManualClock moved past idle_timeout_s) and one
 *   chat completion is sent through the gateway; the time from request to answer is compared
 *   with (a) the simulator's configured start + Ollama-ready + warm-up time, and (b) a direct
 *   wake the bench does itself against the same simulator (REST start, poll GET until RUNNING,
 *   poll a chat through the pod proxy until answered, every 20 ms), p50/p99 over the N wakes.
 *   The gateway runs its production poll intervals (provisioner 100 ms ×1.5, waker 100 ms).
 * - `group_routing`: engineer G's section (bench/support/group-routing-section.ts).
 *
 * The simulator and the gateway run in this process (as the e2e specs boot them). Options:
 * BENCH_WAKES (default 20), BENCH_WARMUP_MS (the simulator's warm-up, default 300),
 * BENCH_GROUP=0 (skip the group-routing section).
 */
import process from "node:process";
import { ManualClock } from "../src/common/clock.ts";
import { DeploymentsQueries } from "../src/deployments/deployments.queries.ts";
import { PodIdleSweep } from "../src/deployments/pods/pod-idle-sweep.ts";
import { fundedAccount, randomEmail } from "../test/support/accounts.ts";
import { startRunpodSimulator } from "../test/support/runpod-sim/index.ts";
import { api, startTestApp } from "../test/support/test-app.ts";
import { groupRoutingSection } from "./support/group-routing-section.ts";

const WAKES = Math.max(1, Number(process.env.BENCH_WAKES ?? 20));
const WARMUP_MS = Number(process.env.BENCH_WARMUP_MS ?? 300);
const KNOBS = { provisionMs: 50, startMs: 100, ollamaReadyMs: 100, warmUpMs: WARMUP_MS };
const KEY = "rp-bench-key-0123456789";
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function percentiles(values: number[]) {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)];
  return { p50: Math.round(at(0.5)), p99: Math.round(at(0.99)) };
}

async function wakeSection() {
  const sim = await startRunpodSimulator({ apiKey: KEY, ...KNOBS });
  const clock = new ManualClock(new Date());
  const gateway = await startTestApp({
    clock,
    env: {
      RUNPOD_REST_URL: sim.restUrl,
      RUNPOD_API_URL: sim.serverlessUrl,
      RUNPOD_POD_PROXY_URL: sim.podProxyTemplate,
      RUNPOD_API_KEY: KEY,
      RECONCILE_INTERVAL_MS: "3600000",
      METERING_INTERVAL_MS: "3600000",
      IDLE_SWEEP_INTERVAL_MS: "3600000",
    },
  });
  try {
    const { key, accountId } = await fundedAccount(gateway.url, randomEmail("bench"), 100);
    const created = await api(gateway.url, "POST", "/api/deployments", {
      token: key,
      body: { model: "mistral", idle_timeout_s: 60 },
    });
    if (created.status !== 202) throw new Error(`deploy: ${JSON.stringify(created.body)}`);
    const id = created.body.id as string;
    const queries = gateway.app.get(DeploymentsQueries);
    const waitRunning = async () => {
      while (queries.get(accountId, id)?.status !== "running") await sleep(10);
    };
    await waitRunning();
    const chat = () =>
      fetch(`${gateway.url}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: JSON.stringify({ model: "mistral", messages: [{ role: "user", content: "hi" }] }),
      });
    const throughGateway: number[] = [];
    for (let i = 0; i < WAKES; i++) {
      clock.advance(3 * 60_000);
      const { stopped } = await gateway.app.get(PodIdleSweep).sweepNow();
      if (!stopped.includes(id)) throw new Error("the idle sweep did not stop the pod");
      const started = performance.now();
      const response = await chat();
      await response.text();
      if (response.status !== 200) throw new Error(`wake ${i}: HTTP ${response.status}`);
      throughGateway.push(performance.now() - started);
    }

    // The same wake done by hand against the simulator: start, poll, warm up.
    const rest = (path: string, init: RequestInit = {}) =>
      fetch(`${sim.restUrl}${path}`, {
        ...init,
        headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
      });
    const pod = await (await rest("/pods", {
      method: "POST",
      body: JSON.stringify({
        name: "bench-direct",
        image: "ollama/ollama:latest",
        gpu: { id: "NVIDIA GeForce RTX 4090", count: 1 },
        ports: ["11434/http"],
      }),
    })).json();
    sim.addPodModel(pod.id, "mistral");
    const proxy = sim.podProxyTemplate.replace("{podId}", pod.id).replace("{port}", "11434");
    const direct: number[] = [];
    for (let i = 0; i < WAKES; i++) {
      for (;;) {
        const view = await (await rest(`/pods/${pod.id}`)).json();
        if (view.status === "RUNNING" || view.status === "EXITED") break;
        await sleep(20);
      }
      await rest(`/pods/${pod.id}/action`, { method: "POST", body: '{"action":"stop"}' });
      const started = performance.now();
      await (await rest(`/pods/${pod.id}/action`, { method: "POST", body: '{"action":"start"}' }))
        .text();
      for (;;) {
        const view = await (await rest(`/pods/${pod.id}`)).json();
        if (view.status === "RUNNING") break;
        await sleep(20);
      }
      for (;;) {
        const answer = await fetch(`${proxy}/v1/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ model: "mistral", messages: [{ role: "user", content: "hi" }] }),
        });
        await answer.text();
        if (answer.ok) break;
        await sleep(20);
      }
      direct.push(performance.now() - started);
    }
    const configured = KNOBS.startMs + KNOBS.ollamaReadyMs + KNOBS.warmUpMs;
    return {
      wakes: WAKES,
      simulator_boot_and_warmup_ms: configured,
      knobs: KNOBS,
      through_gateway_ms: percentiles(throughGateway),
      direct_wake_ms: percentiles(direct),
      added_over_configured_ms: percentiles(throughGateway.map((t) => t - configured)),
      added_over_direct_ms: {
        p50: percentiles(throughGateway).p50 - percentiles(direct).p50,
        p99: percentiles(throughGateway).p99 - percentiles(direct).p99,
      },
      start_calls_at_simulator: sim.pod(id)?.starts ?? null,
    };
  } finally {
    await gateway.close();
    await sim.close();
  }
}

const wake = await wakeSection();
const groupRouting = process.env.BENCH_GROUP === "0" ? null : await groupRoutingSection();
console.log(JSON.stringify({ wake, group_routing: groupRouting }, null, 2));
process.exit(0);
