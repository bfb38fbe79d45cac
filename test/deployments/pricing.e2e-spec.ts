import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { RunpodSimulator } from "../support/runpod-sim/index.ts";
import type { TestApp } from "../support/test-app.ts";
import {
  allEvents,
  api,
  createTenant,
  deploy,
  reconcilerOf,
  startGateway,
  startSim,
  streamEvents,
  tempDataDir,
  waitForStatus,
} from "./support.ts";

/** Micro-dollars held for 10 minutes at `usdPerHour` (POD_MIN_PREPAID_MINUTES default). */
const holdFor = (usdPerHour: number) => 10 * Math.round(Math.round(usdPerHour * 1e6) / 60);

describe("pod prices: quoted before the pod exists, metered at RunPod's price", () => {
  let sim: RunpodSimulator;
  let gateway: TestApp;

  beforeEach(async () => {
    sim = await startSim();
  });
  afterEach(async () => {
    await gateway?.close();
    await sim?.close();
  });

  async function heldFor(accountId: string): Promise<number[]> {
    return (await allEvents(gateway, ["CreditsReserved"]))
      .filter((e) => e.data.accountId === accountId)
      .map((e) => e.data.amountMicros);
  }

  function modelsFile(gpuPrices: Record<string, number>): string {
    const file = join(tempDataDir(), "models.json");
    writeFileSync(
      file,
      JSON.stringify({
        models: [{ id: "qwen3-8b", kind: "text", runpod_endpoint_id: "qwen3-8b", price_usd: 0.01 }],
        gpu_prices: gpuPrices,
      }),
    );
    return file;
  }

  it("holds at RunPod's GPU catalogue price when the catalogue answers", async () => {
    sim.knobs.gpuPrices = { "NVIDIA GeForce RTX 4090": 0.9 };
    gateway = await startGateway(sim);
    const tenant = await createTenant(gateway, 10);
    expect((await deploy(gateway, tenant, { model: "mistral" })).status).toBe(202);
    expect(await heldFor(tenant.accountId)).toEqual([holdFor(0.9)]);
    expect(sim.requests.some((r) => r.path.startsWith("/rest/v2/catalog/gpus/"))).toBe(true);
  });

  it("falls back to MODELS_FILE gpu_prices, then the built-in table, when the catalogue is down", async () => {
    sim.knobs.gpuCatalogAvailable = false;
    gateway = await startGateway(sim, {
      env: { MODELS_FILE: modelsFile({ "NVIDIA GeForce RTX 4090": 0.75 }) },
    });
    const tenant = await createTenant(gateway, 10);
    expect((await deploy(gateway, tenant, { model: "mistral" })).status).toBe(202);
    // The A40 is not in the file: the built-in 0.40.
    expect(
      (await deploy(gateway, tenant, { model: "phi3", gpu_type_id: "NVIDIA A40" })).status,
    ).toBe(202);
    expect(await heldFor(tenant.accountId)).toEqual([holdFor(0.75), holdFor(0.4)]);
  });

  it("refuses an allowed GPU nobody can price, before renting it", async () => {
    sim.knobs.gpuCatalogAvailable = false;
    gateway = await startGateway(sim, {
      env: { RUNPOD_ALLOWED_GPUS: "NVIDIA GeForce RTX 4090,NVIDIA B200" },
    });
    const tenant = await createTenant(gateway, 10);
    const refused = await deploy(gateway, tenant, { model: "mistral", gpu_type_id: "NVIDIA B200" });
    expect(refused.status).toBe(503);
    expect(refused.body.error).toMatchObject({ param: "gpu_type_id", code: "gpu_price_unknown" });
    expect(sim.pods()).toEqual([]);
  });

  it("re-reads RunPod's price when a pod is started again, from the gateway or the console", async () => {
    gateway = await startGateway(sim);
    const tenant = await createTenant(gateway, 10);
    const id = (await deploy(gateway, tenant, { model: "mistral" })).body.id as string;
    await waitForStatus(gateway, tenant, id, "running");
    await api(gateway.url, "POST", `/api/deployments/${id}/stop`, { token: tenant.key });

    sim.knobs.gpuPrices = { "NVIDIA GeForce RTX 4090": 0.8 };
    const started = await api(gateway.url, "POST", `/api/deployments/${id}/start`, {
      token: tenant.key,
    });
    expect(started.status).toBe(202);
    await waitForStatus(gateway, tenant, id, "running");

    // Stopped, then started from RunPod's console at yet another price: the reconciler notices.
    await api(gateway.url, "POST", `/api/deployments/${id}/stop`, { token: tenant.key });
    sim.knobs.gpuPrices = { "NVIDIA GeForce RTX 4090": 0.85 };
    sim.setPodStatus(id, "RUNNING");
    await reconcilerOf(gateway).reconcileNow();
    await waitForStatus(gateway, tenant, id, "running");

    const resumed = (await streamEvents(gateway, id)).filter((e) => e.type === "PodResumed");
    expect(resumed.map((e) => e.data.costPerHourUsd)).toEqual([0.8, 0.85]);
    const view = await api(gateway.url, "GET", `/api/deployments/${id}`, { token: tenant.key });
    expect(view.body.status).toBe("running");
  });
});
