import { ManualClock } from "../../src/common/clock.ts";
import { PodIdleSweep } from "../../src/deployments/pods/pod-idle-sweep.ts";
import {
  createTenant,
  deploy,
  reconcilerOf,
  startGateway,
  startSim,
  type Tenant,
  waitForStatus,
} from "../deployments/support.ts";
import type { RunpodSimulator } from "../support/runpod-sim/index.ts";
import type { TestApp } from "../support/test-app.ts";
import { type LocalUpstream, startLocalUpstream } from "../support/upstreams/openai-upstream.ts";
import { rawStream } from "../inference/support.ts";
import { createGroup, external, inferenceEvents, servedBy } from "./support.ts";

/** Groups over real pods on the RunPod simulator: members that die or sleep behind the gateway. */
describe("model groups over pods", () => {
  let sim: RunpodSimulator;
  let gateway: TestApp;
  let tenant: Tenant;
  let clock: ManualClock;
  let spare: LocalUpstream;
  let spareId: string;

  beforeAll(async () => {
    sim = await startSim();
    spare = await startLocalUpstream("ollama");
    clock = new ManualClock(new Date());
    gateway = await startGateway(sim, { clock });
    tenant = await createTenant(gateway, 50);
    spareId = await external(gateway, tenant as any, "spare", spare);
  });

  afterAll(async () => {
    await gateway?.close();
    await sim?.close();
    await spare?.close();
  });

  it("fails over from a pod that died behind the gateway's back, then skips it once it is known stopped", async () => {
    const first = (await deploy(gateway, tenant, { model: "mistral", name: "pod-one" })).body.id;
    const second = (await deploy(gateway, tenant, { model: "mistral", name: "pod-two" })).body.id;
    await waitForStatus(gateway, tenant, first, "running");
    await waitForStatus(gateway, tenant, second, "running");
    await createGroup(gateway, tenant as any, {
      name: "pods",
      members: ["pod-one", "pod-two"],
      strategy: "fallback",
    });
    expect(await servedBy(tenant as any, "pods")).toBe(first);

    sim.killPod(first);
    // The read model still says running: the pod proxy's 502 moves the request to the next pod.
    expect(await servedBy(tenant as any, "pods")).toBe(second);
    const last = (await inferenceEvents(gateway)).filter((event) => event.data.model === "pods")
      .at(-1)!;
    expect(last.data).toMatchObject({ memberDeploymentId: second, failedOverFrom: [first] });

    // Once the reconciler records it stopped (not wakeable), it is not tried at all.
    await reconcilerOf(gateway).reconcileNow();
    await waitForStatus(gateway, tenant, first, "stopped");
    clock.advance(60_000); // past any cooldown: the skip is the stopped status's
    const proxied = sim.requests.filter((request) => request.path.startsWith(`/proxy/${first}`))
      .length;
    expect(await servedBy(tenant as any, "pods")).toBe(second);
    expect(sim.requests.filter((request) => request.path.startsWith(`/proxy/${first}`)).length)
      .toBe(proxied);
  });

  it("tries a sleeping member only after the awake ones, and wakes it (with heartbeats) when it is the one left", async () => {
    const created = await deploy(gateway, tenant, {
      model: "llama3.2",
      name: "sleepy",
      idle_timeout_s: 60,
    });
    expect(created.status).toBe(202);
    const id = created.body.id;
    await waitForStatus(gateway, tenant, id, "running");
    clock.advance(10 * 60_000);
    await gateway.app.get(PodIdleSweep).sweepNow();
    await waitForStatus(gateway, tenant, id, "stopped");

    await createGroup(gateway, tenant as any, {
      name: "sleepy-first",
      members: ["sleepy", "spare"],
      strategy: "fallback",
    });
    // Pod actions (stop, start) are POSTs to /pods/{id}/action; the idle stop was one.
    const actions = () =>
      sim.requests.filter((request) => request.path === `/rest/v2/pods/${id}/action`).length;
    const asleep = actions();
    expect(await servedBy(tenant as any, "sleepy-first")).toBe(spareId);
    expect(actions()).toBe(asleep);
    expect(sim.pod(id)!.status).toBe("EXITED");

    // Alone in its group, the sleeping pod is woken; a streamed client sees heartbeats first.
    await createGroup(gateway, tenant as any, {
      name: "sleepy-only",
      members: ["sleepy"],
      strategy: "fallback",
    });
    const streamed = await rawStream(`${gateway.url}/v1/chat/completions`, tenant.key, {
      model: "sleepy-only",
      stream: true,
      messages: [{ role: "user", content: "hi" }],
    });
    expect(streamed.status).toBe(200);
    expect(streamed.text.startsWith(": waking\n\n")).toBe(true);
    expect(streamed.text).toContain("data: [DONE]");
    expect(streamed.text).not.toContain('"error"');
    expect(actions()).toBe(asleep + 1);
    expect(sim.pod(id)!.status).toBe("RUNNING");
    const last = (await inferenceEvents(gateway)).filter((event) =>
      event.data.model === "sleepy-only"
    ).at(-1)!;
    expect(last.type).toBe("InferenceCompleted");
    expect(last.data).toMatchObject({ memberDeploymentId: id, routeKind: "pod" });
    expect(last.data.wokeAfterMs).toBeGreaterThanOrEqual(0);
    expect(last.data.timeToFirstTokenMs).toBeGreaterThanOrEqual(last.data.wokeAfterMs);
  });
});
