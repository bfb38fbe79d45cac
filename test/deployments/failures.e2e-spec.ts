import { createApiKey } from "../support/accounts.ts";
import type { RunpodSimulator } from "../support/runpod-sim/index.ts";
import type { TestApp } from "../support/test-app.ts";
import {
  api,
  chat,
  createTenant,
  deploy,
  provisionerOf,
  reconcilerOf,
  startGateway,
  startSim,
  streamEvents,
  type Tenant,
  waitForStatus,
} from "./support.ts";

describe("RunPod failures leave deployments truthful", () => {
  let sim: RunpodSimulator;
  let gateway: TestApp;
  let tenant: Tenant;

  beforeEach(async () => {
    sim = await startSim();
    gateway = await startGateway(sim);
    tenant = await createTenant(gateway, 10);
  });

  afterEach(async () => {
    await gateway?.close();
    await sim?.close();
  });

  const list = async () =>
    (await api(gateway.url, "GET", "/api/deployments", { token: tenant.key })).body.data;

  it("validates the request and the caller's permission", async () => {
    const missing = await deploy(gateway, tenant, { name: "x" });
    expect(missing.status).toBe(400);
    expect(missing.body.error).toMatchObject({
      param: "model",
      code: "missing_required_parameter",
    });

    const readOnly = await createApiKey(gateway.url, tenant.accountId, {
      name: "ro",
      permissions: ["read"],
    });
    const denied = await api(gateway.url, "POST", "/api/deployments", {
      token: readOnly,
      body: { model: "mistral" },
    });
    expect(denied.status).toBe(403);
    const broke = await createTenant(gateway);
    const unpaid = await deploy(gateway, broke, { model: "mistral" });
    expect(unpaid.status).toBe(402);
    expect(sim.pods()).toEqual([]);
  });

  it("retries a 429 transparently, and reports a persistent one with Retry-After", async () => {
    // Only `POST /pods` (anchored): the first pod's provisioning polls `GET /pods/<id>`
    // meanwhile, and must not use up the injected 429s.
    const createPath = /^\/rest\/v2\/pods$/;
    sim.failNext(createPath, 429, 1, { retryAfterSeconds: 0 });
    const ok = await deploy(gateway, tenant, { model: "mistral" });
    expect(ok.status).toBe(202);

    sim.failNext(createPath, 429, 4, { retryAfterSeconds: 0 });
    const limited = await deploy(gateway, tenant, { model: "phi3" });
    expect(limited.status).toBe(429);
    expect(limited.body.error).toMatchObject({
      type: "rate_limit_error",
      code: "runpod_rate_limited",
    });
    expect(limited.headers.get("retry-after")).not.toBeNull();
    expect(sim.pods()).toHaveLength(1);
    expect((await list()).map((d: any) => d.name)).toEqual(["mistral"]);
  });

  it("records nothing when RunPod fails the create (5xx, no GPU capacity)", async () => {
    sim.failNext("/rest/v2/pods", 500, 1);
    const failed = await deploy(gateway, tenant, { model: "mistral" });
    expect(failed.status).toBe(503);
    expect(failed.body.error.code).toBe("runpod_unavailable");

    // An allowed GPU (RUNPOD_ALLOWED_GPUS) with no stock: RunPod's "no instances available".
    sim.knobs.unavailableGpus = ["NVIDIA L40S"];
    const noGpu = await deploy(gateway, tenant, { model: "mistral", gpu_type_id: "NVIDIA L40S" });
    expect(noGpu.status).toBe(503);
    expect(noGpu.body.error).toMatchObject({ code: "gpu_unavailable", param: "gpu_type_id" });

    // RunPod's "not enough free GPUs": the last A40 is taken.
    sim.knobs.gpuStock = { "NVIDIA A40": 0 };
    const noneFree = await deploy(gateway, tenant, { model: "mistral", gpu_type_id: "NVIDIA A40" });
    expect(noneFree.status).toBe(503);
    expect(noneFree.body.error).toMatchObject({ code: "gpu_unavailable", param: "gpu_type_id" });

    expect(sim.pods()).toEqual([]);
    expect(await list()).toEqual([]);
  });

  it("gives up on a pod stuck in PROVISIONING: terminated and recorded as failed", async () => {
    provisionerOf(gateway).configure({ readyTimeoutMs: 300 });
    sim.knobs.stuckProvisioning = true;
    const id = (await deploy(gateway, tenant, { model: "mistral" })).body.id as string;
    const failed = await waitForStatus(gateway, tenant, id, "failed");
    expect(failed.failure_reason).toMatch(/not ready within .*PROVISIONING.*terminated/);
    expect(sim.pod(id)?.status ?? "TERMINATED").toBe("TERMINATED");
  });

  // Issue 11 changed this: a failed pull used to stop the pod ("kept for inspection"), whose disk
  // kept costing; it is now terminated.
  it("terminates a pod whose model cannot be pulled and says why", async () => {
    sim.knobs.unknownModels = ["no-such-model"];
    sim.knobs.terminatedVisibleMs = 60_000;
    const id = (await deploy(gateway, tenant, { model: "no-such-model" })).body.id as string;
    const failed = await waitForStatus(gateway, tenant, id, "failed");
    expect(failed.failure_reason).toMatch(
      /Pulling 'no-such-model' failed: .*file does not exist.* The pod was terminated/,
    );
    expect(sim.pod(id)!.status).toBe("TERMINATED");
    const events = await streamEvents(gateway, id);
    expect(events.map((e) => e.type)).not.toContain("PodStopped");
    expect(events.at(-1)).toMatchObject({
      type: "DeploymentFailed",
      data: { podTerminated: true },
    });
  });

  it("terminates a failed pod on a later reconcile when RunPod failed the terminate", async () => {
    sim.knobs.unknownModels = ["no-such-model"];
    sim.knobs.terminatedVisibleMs = 60_000;
    // Every attempt of the provisioner's terminate (first try and its retries) fails.
    sim.failNext("/action", 503, 4);
    const id = (await deploy(gateway, tenant, { model: "no-such-model" })).body.id as string;
    const failed = await waitForStatus(gateway, tenant, id, "failed");
    expect(failed.failure_reason).toMatch(/Terminating the pod failed/);
    expect(sim.pod(id)!.status).not.toBe("TERMINATED");

    const report = await reconcilerOf(gateway).reconcileNow();
    expect(report.changed).toEqual([id]);
    expect(sim.pod(id)!.status).toBe("TERMINATED");
    expect((await streamEvents(gateway, id)).at(-1)?.type).toBe("PodTerminated");
    expect((await reconcilerOf(gateway).reconcileNow()).changed).toEqual([]);
  });

  it("keeps a deployment running when RunPod fails the stop, and handles 409s by re-reading the pod", async () => {
    const id = (await deploy(gateway, tenant, { model: "mistral" })).body.id as string;
    await waitForStatus(gateway, tenant, id, "running");

    sim.failNext("/action", 503, 4);
    const failed = await api(gateway.url, "POST", `/api/deployments/${id}/stop`, {
      token: tenant.key,
    });
    expect(failed.status).toBe(503);
    expect(failed.body.error.code).toBe("runpod_unavailable");
    await waitForStatus(gateway, tenant, id, "running");
    expect(await chat(tenant.client, "mistral")).not.toBe("");

    // Stopped from the console meanwhile: RunPod answers 409, the pod is EXITED, the stop holds.
    sim.setPodStatus(id, "EXITED");
    const stopped = await api(gateway.url, "POST", `/api/deployments/${id}/stop`, {
      token: tenant.key,
    });
    expect(stopped.status).toBe(200);
    expect(stopped.body.status).toBe("stopped");

    // Terminated from the console: start gets RunPod's 409; the deployment becomes terminated.
    sim.knobs.terminatedVisibleMs = 60_000;
    sim.setPodStatus(id, "TERMINATED");
    const start = await api(gateway.url, "POST", `/api/deployments/${id}/start`, {
      token: tenant.key,
    });
    expect(start.status).toBe(409);
    expect(start.body.error.code).toBe("pod_terminated");
    const after = await api(gateway.url, "GET", `/api/deployments/${id}`, { token: tenant.key });
    expect(after.body.status).toBe("terminated");
  });
});
