import type { RunpodSimulator } from "../support/runpod-sim/index.ts";
import type { TestApp } from "../support/test-app.ts";
import {
  api,
  chat,
  chatError,
  clientFor,
  createTenant,
  deploy,
  reconcilerOf,
  RUNPOD_TEST_KEY,
  startGateway,
  startSim,
  streamEvents,
  tempDataDir,
  type Tenant,
  waitForStatus,
} from "./support.ts";

describe("RunPod pod deployments (simulator)", () => {
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

  it("walks deploy → provisioning → Ollama ready → pulled → chat → healthy → stop → start → chat → delete", async () => {
    const created = await deploy(gateway, tenant, { model: "mistral" });
    expect(created.status).toBe(202);
    expect(created.body).toMatchObject({
      name: "mistral",
      model_identifier: "mistral",
      status: "provisioning",
    });
    const id = created.body.id as string;

    // The id is RunPod's pod id, and the pod is an Ollama pod on the default GPU.
    const pod = sim.pod(id)!;
    expect(pod).toBeDefined();
    expect(pod.image).toBe("ollama/ollama:latest");
    expect(pod.ports).toEqual(["11434/http"]);
    expect(pod.env).toEqual({ OLLAMA_HOST: "0.0.0.0" });
    expect(pod.gpu).toEqual({ id: "NVIDIA GeForce RTX 4090", count: 1 });

    const running = await waitForStatus(gateway, tenant, id, "running");
    expect(running.base_url).toBe(
      `${sim.podProxyTemplate.replace("{podId}", id).replace("{port}", "11434")}/v1`,
    );
    expect((await streamEvents(gateway, id)).map((e) => e.type)).toEqual([
      "DeploymentRequested",
      "PodCreated",
      "DeploymentHealthChanged",
      "ModelPulled",
      "PodStarted",
    ]);
    // Ollama was polled through the proxy, and the model pulled with a streamed /api/pull.
    const proxied = sim.requests.filter((r) => r.path.startsWith(`/proxy/${id}-11434`)).map((r) =>
      `${r.method} ${r.path}`
    );
    expect(proxied).toContain(`GET /proxy/${id}-11434/`);
    expect(proxied).toContain(`POST /proxy/${id}-11434/api/pull`);
    // The RunPod key is only ever a bearer header, never in an event.
    const stored = JSON.stringify(
      (await streamEvents(gateway, id)).map((e) => [e.data, e.metadata]),
    );
    expect(stored).not.toContain(RUNPOD_TEST_KEY);

    expect(await chat(tenant.client, "mistral")).not.toBe("");

    const health = await api(gateway.url, "GET", `/api/deployments/${id}/health`, {
      token: tenant.key,
    });
    expect(health.status).toBe(200);
    expect(Object.keys(health.body).sort()).toEqual([
      "deployment_status",
      "last_checked",
      "response_time_ms",
      "services",
      "status",
      "timestamp",
    ]);
    expect(health.body).toMatchObject({
      status: "healthy",
      services: { ollama: "running", webui: "not_deployed" },
      deployment_status: "running",
    });
    expect(typeof health.body.response_time_ms).toBe("number");
    expect(new Date(health.body.timestamp).toISOString()).toBe(health.body.timestamp);

    const stopped = await api(gateway.url, "POST", `/api/deployments/${id}/stop`, {
      token: tenant.key,
    });
    expect(stopped.status).toBe(200);
    expect(stopped.body.status).toBe("stopped");
    expect(sim.pod(id)!.status).toBe("EXITED");
    const refused = await chatError(tenant.client, "mistral");
    expect(refused.status).toBe(400);
    expect(refused.code).toBe("model_not_available");
    const unhealthy = await api(gateway.url, "GET", `/api/deployments/${id}/health`, {
      token: tenant.key,
    });
    expect(unhealthy.body).toMatchObject({
      status: "unhealthy",
      services: { ollama: "stopped" },
      deployment_status: "stopped",
    });

    // Stopping twice is a wrong action: a clear 409, nothing recorded.
    const again = await api(gateway.url, "POST", `/api/deployments/${id}/stop`, {
      token: tenant.key,
    });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe("invalid_deployment_state");

    const started = await api(gateway.url, "POST", `/api/deployments/${id}/start`, {
      token: tenant.key,
    });
    expect(started.status).toBe(202);
    await waitForStatus(gateway, tenant, id, "running");
    expect(await chat(tenant.client, "mistral")).not.toBe("");
    // The model survived the stop on the pod's disk: no second pull.
    const pulls = sim.requests.filter((r) => r.path === `/proxy/${id}-11434/api/pull`);
    expect(pulls).toHaveLength(1);

    const deleted = await api(gateway.url, "DELETE", `/api/deployments/${id}`, {
      token: tenant.key,
    });
    expect(deleted.status).toBe(200);
    expect(deleted.body).toMatchObject({ id, status: "terminated", deleted: true });
    expect(sim.pod(id)?.status ?? "TERMINATED").toBe("TERMINATED");
    const list = await api(gateway.url, "GET", "/api/deployments", { token: tenant.key });
    expect(list.body.data.map((d: any) => d.id)).not.toContain(id);
    const types = (await streamEvents(gateway, id)).map((e) => e.type);
    expect(types.slice(-1)).toEqual(["PodTerminated"]);
    const stops = (await streamEvents(gateway, id)).filter((e) => e.type === "PodStopped");
    expect(stops.map((e) => e.data.reason)).toEqual(["user"]);
  });

  it("notices a pod killed behind the gateway's back, once, even with two reconcilers", async () => {
    const created = await deploy(gateway, tenant, { model: "llama3.2", name: "llama" });
    const id = created.body.id as string;
    await waitForStatus(gateway, tenant, id, "running");
    expect(await chat(tenant.client, "llama")).not.toBe("");

    const second = await startGateway(sim, {
      dataDir: gateway.dataDir,
      env: { INSTANCE_ID: "second" },
    });
    try {
      sim.killPod(id);
      const [first, other] = await Promise.all([
        reconcilerOf(gateway).reconcileNow(),
        reconcilerOf(second).reconcileNow(),
      ]);
      expect([...first.changed, ...other.changed]).toEqual([id]);
      const stops = (await streamEvents(gateway, id)).filter((e) => e.type === "PodStopped");
      expect(stops).toHaveLength(1);
      expect(stops[0].data).toMatchObject({ reason: "external" });
      await waitForStatus(gateway, tenant, id, "stopped");
      expect((await chatError(tenant.client, "llama")).code).toBe("model_not_available");
      expect((await reconcilerOf(gateway).reconcileNow()).changed).toEqual([]);
    } finally {
      await second.close();
    }
  });

  it("runs the reconciler in the background every RECONCILE_INTERVAL_MS", async () => {
    await gateway.close();
    gateway = await startGateway(sim, { env: { RECONCILE_INTERVAL_MS: "100" } });
    tenant = await createTenant(gateway, 10);
    const id = (await deploy(gateway, tenant, { model: "mistral" })).body.id as string;
    await waitForStatus(gateway, tenant, id, "running");
    sim.killPod(id, "ERROR");
    await waitForStatus(gateway, tenant, id, "stopped", 3_000);
  });

  it("resumes provisioning after a restart", async () => {
    await gateway.close();
    const dataDir = tempDataDir();
    sim.knobs.pullMs = 800;
    gateway = await startGateway(sim, { dataDir });
    tenant = await createTenant(gateway, 10);
    const id = (await deploy(gateway, tenant, { model: "qwen2.5" })).body.id as string;
    await waitForStatus(gateway, tenant, id, "pulling");
    await gateway.close({ keepData: true });

    gateway = await startGateway(sim, { dataDir });
    await waitForStatus(gateway, tenant, id, "running", 10_000);
    expect(await chat(clientFor(gateway, tenant), "qwen2.5")).not.toBe("");
    const types = (await streamEvents(gateway, id)).map((e) => e.type);
    expect(types.filter((t) => t === "PodStarted")).toHaveLength(1);
  });
});
