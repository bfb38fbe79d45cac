import { Buffer } from "node:buffer";
import { type RunpodSimulator, startRunpodSimulator } from "../../support/runpod-sim/index.ts";
import { api, startTestApp, type TestApp, type TestAppOptions } from "../../support/test-app.ts";

export const SIM_KEY = "sim-runpod-key-0123456789";

export function simulator(options: Parameters<typeof startRunpodSimulator>[0] = {}) {
  return startRunpodSimulator({ apiKey: SIM_KEY, executionMs: 20, coldStartMs: 100, ...options });
}

/** The gateway pointed at the simulator, with a 1 s runsync window and a fast poller. */
export function gateway(sim: RunpodSimulator, options: TestAppOptions = {}): Promise<TestApp> {
  return startTestApp({
    ...options,
    env: {
      RUNPOD_API_URL: sim.serverlessUrl,
      RUNPOD_REST_URL: sim.restUrl,
      RUNPOD_POD_PROXY_URL: sim.podProxyTemplate,
      RUNPOD_API_KEY: SIM_KEY,
      GENERATION_SYNC_WAIT_MS: "1000",
      JOB_POLL_INTERVAL_MS: "50",
      ...options.env,
    },
  });
}

/** The next job on `endpointId` pays a cold start longer than the gateway's 1 s window. */
export function makeCold(sim: RunpodSimulator, endpointId: string, coldStartMs = 1_500): void {
  sim.endpoints.get(endpointId)!.coldStartMs = coldStartMs;
  sim.coolDown(endpointId);
}

export function makeWarm(sim: RunpodSimulator, endpointId: string): void {
  sim.endpoints.get(endpointId)!.coldStartMs = 100;
}

/** Polls a poll_url until the job leaves `processing` (bounded). */
export async function pollUntilDone(
  url: string,
  token: string,
  pollUrl: string,
  timeoutMs = 8_000,
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const response = await api(url, "GET", pollUrl, { token });
    if (response.status !== 200 || response.body.status !== "processing") return response;
    if (Date.now() > deadline) throw new Error(`job still processing after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 40));
  }
}

export async function download(url: string, token: string, path: string) {
  const response = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${token}` } });
  return {
    status: response.status,
    contentType: response.headers.get("content-type"),
    data: new Uint8Array(await response.arrayBuffer()),
  };
}

export function decode(base64: string): Uint8Array {
  return new Uint8Array(Buffer.from(base64, "base64"));
}

/** Every transaction of the account (all pages). */
export async function transactions(url: string, token: string): Promise<any[]> {
  const all: any[] = [];
  let cursor: string | null = null;
  do {
    const query: string = cursor ? `?limit=100&cursor=${cursor}` : "?limit=100";
    const page = await api(url, "GET", `/api/billing/transactions${query}`, { token });
    if (page.status !== 200) {
      throw new Error(`transactions: ${page.status} ${JSON.stringify(page.body)}`);
    }
    all.push(...page.body.data);
    cursor = page.body.next_cursor;
  } while (cursor);
  return all;
}

export async function balance(url: string, token: string) {
  const response = await api(url, "GET", "/api/billing/balance", { token });
  return response.body as { balance_usd: number; available_usd: number };
}
