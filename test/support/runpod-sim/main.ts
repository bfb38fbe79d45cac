import process from "node:process";
import { startRunpodSimulator } from "./index.ts";

/**
 * Standalone simulator: `npm run runpod:sim` (PORT, default 8787). Prints one JSON line with
 * the environment that points the gateway at it. Knobs come from SIM_* variables.
 */

function numberFrom(name: string): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return undefined;
  const value = Number(raw);
  if (!Number.isFinite(value)) {
    throw new Error(`${name} must be a number, got ${JSON.stringify(raw)}`);
  }
  return value;
}

function listFrom(name: string): string[] | undefined {
  const raw = process.env[name];
  return raw ? raw.split(",").map((s) => s.trim()).filter(Boolean) : undefined;
}

const knobs = Object.fromEntries(
  Object.entries({
    provisionMs: numberFrom("SIM_PROVISION_MS"),
    startMs: numberFrom("SIM_START_MS"),
    ollamaReadyMs: numberFrom("SIM_OLLAMA_READY_MS"),
    pullMs: numberFrom("SIM_PULL_MS"),
    tokensPerSecond: numberFrom("SIM_TOKENS_PER_SECOND"),
    coldStartMs: numberFrom("SIM_COLD_START_MS"),
    idleTimeoutMs: numberFrom("SIM_IDLE_TIMEOUT_MS"),
    executionMs: numberFrom("SIM_EXECUTION_MS"),
    failureRate: numberFrom("SIM_FAILURE_RATE"),
    seed: numberFrom("SIM_SEED"),
    podModels: listFrom("SIM_POD_MODELS"),
    unavailableGpus: listFrom("SIM_UNAVAILABLE_GPUS"),
    realtimeLatencyMs: numberFrom("SIM_REALTIME_LATENCY_MS"),
    realtimeDropAfterDeltas: numberFrom("SIM_REALTIME_DROP_AFTER_DELTAS"),
  }).filter(([, v]) => v !== undefined),
);

const apiKey = process.env.SIM_API_KEY ?? "sim-runpod-key";
const sim = await startRunpodSimulator({
  port: numberFrom("PORT") ?? 8787,
  apiKey,
  ...knobs,
});
console.log(JSON.stringify({
  RUNPOD_REST_URL: sim.restUrl,
  RUNPOD_API_URL: sim.serverlessUrl,
  RUNPOD_POD_PROXY_URL: sim.podProxyTemplate,
  RUNPOD_LB_URL: sim.lbUrlTemplate,
  RUNPOD_API_KEY: apiKey,
}));
// Details go to stderr so stdout stays one machine-readable line.
console.error(JSON.stringify({ endpoints: [...sim.endpoints.keys()], knobs: sim.knobs }));

const shutdown = async () => {
  await sim.close();
  process.exit(0);
};
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);
