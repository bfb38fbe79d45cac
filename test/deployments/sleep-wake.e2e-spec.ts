import { ManualClock } from "../../src/common/clock.ts";
import { DeploymentWaker } from "../../src/deployments/deployment-waker.ts";
import { PodIdleSweep } from "../../src/deployments/pods/pod-idle-sweep.ts";
import type { RunpodSimulator } from "../support/runpod-sim/index.ts";
import type { TestApp } from "../support/test-app.ts";
import {
  allEvents,
  api,
  chat,
  chatError,
  createTenant,
  deploy,
  getDeployment,
  meteringOf,
  startGateway,
  startSim,
  streamEvents,
  type Tenant,
  waitForStatus,
} from "./support.ts";

// Issue 15 §1–2: idle stop, wake on request, the spend cap, and a pod that cannot come back.
// The simulator prices an RTX 4090 pod at 0.69 USD/h: 11,500 micro-dollars a minute.
const START = new Date("2026-03-01T00:00:00.000Z");

describe("sleep and wake (ManualClock, simulator)", () => {
  let sim: RunpodSimulator;
  let gateway: TestApp;
  let clock: ManualClock;

  async function boot(env: Record<string, string> = {}, knobs: Record<string, unknown> = {}) {
    sim = await startSim(knobs);
    clock = new ManualClock(START);
    gateway = await startGateway(sim, { clock, env });
    gateway.app.get(DeploymentWaker).configure({ heartbeatMs: 50 });
  }

  afterEach(async () => {
    await gateway?.close();
    await sim?.close();
  });

  const at = (seconds: number) => clock.set(new Date(START.getTime() + seconds * 1000));
  const sweep = () => gateway.app.get(PodIdleSweep).sweepNow();
  const types = async (id: string) => (await streamEvents(gateway, id)).map((e) => e.type);

  async function sleepyDeployment(tenant: Tenant, body: Record<string, unknown> = {}) {
    const created = await deploy(gateway, tenant, {
      model: "mistral",
      idle_timeout_s: 60,
      ...body,
    });
    expect(created.status).toBe(202);
    await waitForStatus(gateway, tenant, created.body.id, "running");
    return created.body.id as string;
  }

  /** Deployed, used at START, then stopped by the idle sweep (60 s + the 60 s flush allowance). */
  async function asleep(tenant: Tenant): Promise<string> {
    const id = await sleepyDeployment(tenant);
    at(121);
    expect((await sweep()).stopped).toEqual([id]);
    return id;
  }

  it("takes idle_timeout_s, wake_on_request and max_spend_usd at deploy, bounded, and shows them", async () => {
    await boot();
    const tenant = await createTenant(gateway, 5);
    const low = await deploy(gateway, tenant, { model: "mistral", idle_timeout_s: 5 });
    expect(low.status).toBe(400);
    expect(low.body.error.param).toBe("idle_timeout_s");
    const cap = await deploy(gateway, tenant, { model: "mistral", max_spend_usd: -1 });
    expect(cap.body.error.param).toBe("max_spend_usd");
    const id = await sleepyDeployment(tenant, { max_spend_usd: 12.5 });
    const body = (await getDeployment(gateway, tenant, id)).body;
    expect(body).toMatchObject({
      idle_timeout_s: 60,
      wake_on_request: true,
      max_spend_usd: 12.5,
      stop_reason: null,
    });
  });

  it("stops an idle pod with reason idle, and billing stops with it", async () => {
    await boot();
    const tenant = await createTenant(gateway, 5);
    const id = await sleepyDeployment(tenant);
    at(30);
    expect(await chat(tenant.client, "mistral")).toBeTruthy();
    at(140); // used at 30 s: 110 s idle, under 60 s + the 60 s flush allowance
    expect((await sweep()).stopped).toEqual([]);
    at(151);
    expect((await sweep()).stopped).toEqual([id]);
    const body = (await getDeployment(gateway, tenant, id)).body;
    expect(body).toMatchObject({ status: "stopped", stop_reason: "idle" });
    expect(sim.pod(id)?.status).toBe("EXITED");

    await meteringOf(gateway).meterNow();
    const billed = (await allEvents(gateway, ["DeploymentUsageMetered"]))
      .filter((e) => e.data.deploymentId === id).length;
    expect(billed).toBe(3); // minutes 0, 1 and 2 (stopped at 2:31)
    at(3600);
    await meteringOf(gateway).meterNow();
    const later = (await allEvents(gateway, ["DeploymentUsageMetered"]))
      .filter((e) => e.data.deploymentId === id).length;
    expect(later).toBe(billed);
  });

  it("wakes on a non-streamed request: one start, readiness by a warm-up inference, events", async () => {
    await boot({}, { warmUpMs: 300 });
    const tenant = await createTenant(gateway, 5);
    const id = await asleep(tenant);
    const started = Date.now();
    expect(await chat(tenant.client, "mistral")).toBeTruthy();
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(sim.pod(id)?.starts).toBe(1);
    const events = await streamEvents(gateway, id);
    const woken = events.find((e) => e.type === "DeploymentWoken");
    expect(woken?.data.waitedMs).toBeGreaterThanOrEqual(300);
    expect(events.map((e) => e.type)).toEqual(
      expect.arrayContaining(["DeploymentWakeRequested", "PodResumed", "PodStarted"]),
    );
    expect((await getDeployment(gateway, tenant, id)).body.status).toBe("running");
  });

  it("wakes on a streamed request: SSE comment heartbeats while waiting, then the answer", async () => {
    await boot({}, { warmUpMs: 400 });
    const tenant = await createTenant(gateway, 5);
    await asleep(tenant);
    const response = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${tenant.key}`, "content-type": "application/json" },
      body: JSON.stringify({
        model: "mistral",
        stream: true,
        messages: [{ role: "user", content: "Say hello" }],
      }),
    });
    expect(response.status).toBe(200);
    const text = await response.text();
    const lines = text.split("\n").filter((l) => l !== "");
    const firstData = lines.findIndex((l) => l.startsWith("data:"));
    expect(lines.slice(0, firstData).filter((l) => l.startsWith(":")).length).toBeGreaterThan(1);
    expect(lines.at(-1)).toBe("data: [DONE]");
  });

  it("20 concurrent requests to a sleeping deployment share one wake and all get answers", async () => {
    await boot({}, { warmUpMs: 200 });
    const tenant = await createTenant(gateway, 5);
    const id = await asleep(tenant);
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => chat(tenant.client, "mistral")),
    );
    expect(answers.every((a) => a.length > 0)).toBe(true);
    expect(sim.pod(id)?.starts).toBe(1);
    const wakeTypes = (await types(id)).filter((t) => t.startsWith("DeploymentWake"));
    expect(wakeTypes).toEqual(["DeploymentWakeRequested"]);
  });

  it("answers 503 model_warming_up with Retry-After past COLD_START_WAIT_MS", async () => {
    await boot({ COLD_START_WAIT_MS: "1000" }, { warmUpMs: 3000 });
    const tenant = await createTenant(gateway, 5);
    await asleep(tenant);
    const error = await chatError(tenant.client, "mistral");
    expect(error.status).toBe(503);
    expect(error.code).toBe("model_warming_up");
    expect(Number(error.headers.get("retry-after"))).toBeGreaterThan(0);
  });

  it("recreates the deployment on another pod when RunPod restarts it without a GPU", async () => {
    await boot({}, { gpuLostOnRestart: 1 });
    const tenant = await createTenant(gateway, 5);
    const id = await asleep(tenant);
    expect(await chat(tenant.client, "mistral")).toBeTruthy();
    const replaced = (await streamEvents(gateway, id)).find((e) => e.type === "PodReplaced");
    expect(replaced?.data).toMatchObject({ oldPodId: id });
    const newPodId = replaced!.data.newPodId as string;
    expect(newPodId).not.toBe(id);
    expect(sim.pod(id)?.status ?? "TERMINATED").toBe("TERMINATED");
    expect(sim.pod(newPodId)?.image).toBe("ollama/ollama:latest");
    const body = (await getDeployment(gateway, tenant, id)).body;
    expect(body).toMatchObject({ id, name: "mistral", status: "running", pod_id: newPodId });
    // The new pod is covered by a new hold.
    const holds = (await allEvents(gateway, ["CreditsReserved"])).filter((e) =>
      e.data.accountId === tenant.accountId
    );
    expect(holds.length).toBe(2);
  });

  it("recreates the deployment when RunPod has no free GPU to start it", async () => {
    // Every start is refused (the RunPod client's own retries included).
    await boot({}, { noFreeGpusOnStart: 100 });
    const tenant = await createTenant(gateway, 5);
    const id = await asleep(tenant);
    expect(await chat(tenant.client, "mistral")).toBeTruthy();
    expect(await types(id)).toContain("PodReplaced");
    expect((await getDeployment(gateway, tenant, id)).body.status).toBe("running");
  });

  it("stops at max_spend_usd with reason spend_cap, refuses to wake, and wakes once the cap is raised", async () => {
    await boot();
    const tenant = await createTenant(gateway, 5);
    // Two minutes (0.023 USD) fit under 0.03; a third would pass it.
    const id = await sleepyDeployment(tenant, { max_spend_usd: 0.03 });
    at(61);
    await meteringOf(gateway).meterNow();
    const body = (await getDeployment(gateway, tenant, id)).body;
    expect(body).toMatchObject({ status: "stopped", stop_reason: "spend_cap" });
    expect(body.month_spend_usd).toBeCloseTo(0.023, 6);
    const refused = await chatError(tenant.client, "mistral");
    expect(refused.status).toBe(402);
    expect(refused.code).toBe("spend_cap_reached");
    expect(sim.pod(id)?.starts ?? 0).toBe(0);

    const raised = await api(gateway.url, "PATCH", `/api/deployments/${id}`, {
      token: tenant.key,
      body: { max_spend_usd: 1 },
    });
    expect(raised.status).toBe(200);
    expect(raised.body.max_spend_usd).toBe(1);
    expect(await chat(tenant.client, "mistral")).toBeTruthy();
    expect(sim.pod(id)?.starts).toBe(1);
  });
});
