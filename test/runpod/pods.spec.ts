import { PodsClient } from "../../src/runpod/pods.client.ts";
import type { RunpodConfig } from "../../src/runpod/runpod.config.ts";
import {
  RunpodAuthError,
  RunpodBadRequest,
  RunpodConflict,
  RunpodNotFound,
  RunpodUnavailable,
} from "../../src/runpod/runpod-http.ts";
import { type RunpodSimulator, startRunpodSimulator } from "../support/runpod-sim/index.ts";

const KEY = "rp_test_secret_key_123";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function configFor(sim: RunpodSimulator, overrides: Partial<RunpodConfig> = {}): RunpodConfig {
  return {
    restUrl: sim.restUrl,
    apiUrl: sim.serverlessUrl,
    podProxyTemplate: sim.podProxyTemplate,
    apiKey: KEY,
    requestTimeoutMs: 2000,
    maxRetries: 2,
    ...overrides,
  };
}

const input = {
  name: "ollama-1",
  image: "ollama/ollama:latest",
  gpu: { id: "NVIDIA GeForce RTX 4090", count: 1 },
  ports: ["11434/http", "22/tcp"],
  env: { OLLAMA_HOST: "0.0.0.0" },
  disk: 50,
  cloud: "SECURE" as const,
};

async function waitForStatus(client: PodsClient, id: string, status: string) {
  for (let i = 0; i < 100; i++) {
    const pod = await client.getPod(id);
    if (pod.status === status) return pod;
    await sleep(10);
  }
  throw new Error(`pod ${id} never reached ${status}`);
}

describe("PodsClient against the RunPod simulator", () => {
  let sim: RunpodSimulator;
  let client: PodsClient;

  beforeAll(async () => {
    sim = await startRunpodSimulator({ apiKey: KEY, provisionMs: 30, startMs: 30 });
    client = new PodsClient(configFor(sim), { baseDelayMs: 5 });
  });
  afterAll(() => sim.close());
  afterEach(() => {
    sim.knobs.stuckProvisioning = false;
    sim.knobs.unavailableGpus = [];
  });

  it("creates a pod that goes PROVISIONING -> STARTING -> RUNNING with a runtime and a cost", async () => {
    const created = await client.createPod(input);
    expect(created).toMatchObject({
      name: "ollama-1",
      status: "PROVISIONING",
      actions: ["stop", "terminate"],
      image: "ollama/ollama:latest",
      ports: ["11434/http", "22/tcp"],
      env: { OLLAMA_HOST: "0.0.0.0" },
      gpu: { id: "NVIDIA GeForce RTX 4090", count: 1 },
      runtime: null,
    });
    expect(created.cost).toBeGreaterThan(0);
    expect(created.id).toMatch(/^[a-z0-9]+$/);
    const running = await waitForStatus(client, created.id, "RUNNING");
    expect(running.actions).toEqual(["stop", "restart", "terminate"]);
    expect(running.runtime).not.toBeNull();
    expect(running.runtime?.ports?.[0]).toMatchObject({ private: 22, type: "tcp" });
    expect((await client.listPods()).map((p) => p.id)).toContain(created.id);
  });

  it("stops, refuses a second stop with 409, starts again and terminates", async () => {
    const pod = await client.createPod(input);
    await waitForStatus(client, pod.id, "RUNNING");
    const stopped = await client.stopPod(pod.id);
    expect(stopped.status).toBe("EXITED");
    expect(stopped.cost).toBe(0);
    expect(stopped.runtime).toBeNull();
    const conflict = await client.stopPod(pod.id).catch((e) => e);
    expect(conflict).toBeInstanceOf(RunpodConflict);
    expect(conflict.status).toBe(409);
    expect(conflict.detail).toContain("not allowed");
    const started = await client.startPod(pod.id);
    expect(started.status).toBe("STARTING");
    await waitForStatus(client, pod.id, "RUNNING");
    await expect(client.terminatePod(pod.id)).resolves.toBeUndefined();
    await expect(client.getPod(pod.id)).rejects.toBeInstanceOf(RunpodNotFound);
    expect((await client.listPods()).map((p) => p.id)).not.toContain(pod.id);
  });

  it("refuses start on a pod still provisioning", async () => {
    sim.knobs.stuckProvisioning = true;
    const pod = await client.createPod(input);
    await sleep(80);
    expect((await client.getPod(pod.id)).status).toBe("PROVISIONING");
    await expect(client.startPod(pod.id)).rejects.toBeInstanceOf(RunpodConflict);
    await client.terminatePod(pod.id);
  });

  it("answers 404 as RunpodNotFound with the problem detail", async () => {
    const error = await client.getPod("doesnotexist00").catch((e) => e);
    expect(error).toBeInstanceOf(RunpodNotFound);
    expect(error.status).toBe(404);
    expect(error.detail).toBe("pod not found");
    expect(error.title).toBe("Not Found");
  });

  it("rejects an invalid create body with 400 and the field errors", async () => {
    const error = await client.createPod({
      ...input,
      image: undefined as unknown as string,
      ports: ["x"],
    })
      .catch((e) => e);
    expect(error).toBeInstanceOf(RunpodBadRequest);
    expect(error.status).toBe(400);
    expect(error.errors.join(" ")).toContain("image is required");
    expect(error.errors.join(" ")).toContain("invalid port");
  });

  it("reports a GPU type without stock as unavailable and does not retry the create", async () => {
    sim.knobs.unavailableGpus = ["NVIDIA H200"];
    const before = sim.requests.length;
    const error = await client.createPod({ ...input, gpu: { id: "NVIDIA H200", count: 1 } })
      .catch((e) => e);
    expect(error).toBeInstanceOf(RunpodUnavailable);
    expect(error.detail).toContain("no longer any instances available");
    expect(sim.requests.length - before).toBe(1);
  });

  it("sees a pod killed behind its back", async () => {
    const pod = await client.createPod(input);
    await waitForStatus(client, pod.id, "RUNNING");
    sim.killPod(pod.id, "ERROR");
    const dead = await client.getPod(pod.id);
    expect(dead.status).toBe("ERROR");
    expect(dead.actions).toEqual(["start", "terminate"]);
    await client.terminatePod(pod.id);
  });

  it("sends the RateLimit headers RunPod documents", async () => {
    const response = await fetch(`${sim.restUrl}/pods`, {
      headers: { authorization: `Bearer ${KEY}` },
    });
    await response.body?.cancel();
    expect(response.headers.get("ratelimit")).toMatch(/^"minute";r=\d+;t=\d+$/);
    expect(response.headers.get("ratelimit-policy")).toMatch(/^"minute";q=\d+;w=60$/);
  });

  it("fails with RunpodAuthError without leaking the key it sent", async () => {
    const wrongKey = "rp_wrong_key_that_must_not_leak";
    const wrong = new PodsClient(configFor(sim, { apiKey: wrongKey }));
    const error = await wrong.listPods().catch((e) => e);
    expect(error).toBeInstanceOf(RunpodAuthError);
    expect(error.status).toBe(401);
    expect(String(error.message) + String(error.stack) + JSON.stringify(error)).not.toContain(
      wrongKey,
    );
    const missing = await new PodsClient(configFor(sim, { apiKey: undefined })).listPods().catch((
      e,
    ) => e);
    expect(missing).toBeInstanceOf(RunpodAuthError);
    expect(missing.detail).toBe("missing bearer token");
  });
});
