import type { RunpodConfig } from "../../src/runpod/runpod.config.ts";
import { RunpodAuthError, RunpodBadRequest, RunpodNotFound } from "../../src/runpod/runpod-http.ts";
import { isTerminal, ServerlessClient } from "../../src/runpod/serverless.client.ts";
import { type RunpodSimulator, startRunpodSimulator } from "../support/runpod-sim/index.ts";

const KEY = "rp_serverless_key_789";

function configFor(sim: RunpodSimulator, apiKey: string | undefined = KEY): RunpodConfig {
  return {
    restUrl: sim.restUrl,
    apiUrl: sim.serverlessUrl,
    podProxyTemplate: sim.podProxyTemplate,
    apiKey,
    requestTimeoutMs: 3000,
    maxRetries: 1,
  };
}

describe("ServerlessClient against the RunPod simulator", () => {
  let sim: RunpodSimulator;
  let client: ServerlessClient;

  beforeAll(async () => {
    sim = await startRunpodSimulator({
      apiKey: KEY,
      coldStartMs: 1500,
      executionMs: 30,
      idleTimeoutMs: 60_000,
      endpoints: [
        { id: "kokoro", worker: "kokoro" },
        { id: "slow", worker: "kokoro", executionMs: 400, coldStartMs: 0 },
        { id: "qwen3-8b", worker: "vllm", servedModelName: "Qwen/Qwen3-8B", coldStartMs: 0 },
      ],
    });
    client = new ServerlessClient(configFor(sim), { baseDelayMs: 5 });
  });
  afterAll(() => sim.close());
  afterEach(() => {
    sim.knobs.failNextJobs = 0;
  });

  it("returns IN_QUEUE on a cold /runsync when the wait runs out, then completes on polling", async () => {
    sim.coolDown("kokoro");
    const started = Date.now();
    const pending = await client.runSync("kokoro", { text: "hello there" }, { waitMs: 1000 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(pending.id).toMatch(/^sync-[0-9a-f-]+-u1$/);
    expect(pending.status).toBe("IN_QUEUE");
    expect(isTerminal(pending.status)).toBe(false);
    const done = await client.waitForJob("kokoro", pending.id, { pollMs: 50, timeoutMs: 5000 });
    expect(done.status).toBe("COMPLETED");
    expect(done.delayTime).toBeGreaterThanOrEqual(1400);
    expect(done.executionTime).toBe(30);
    expect(done.workerId).toEqual(expect.any(String));
  });

  it("returns the full job from /runsync when the worker is warm", async () => {
    const job = await client.runSync("kokoro", { text: "warm now" }, { waitMs: 5000 });
    expect(job.status).toBe("COMPLETED");
    expect(job.delayTime).toBeLessThan(200);
    expect((job.output as { sample_rate: number }).sample_rate).toBe(24000);
  });

  it("runs an async job IN_QUEUE -> IN_PROGRESS -> COMPLETED", async () => {
    const submitted = await client.run("slow", { text: "async job" });
    expect(submitted.id).toMatch(/^[0-9a-f-]{36}-u1$/);
    expect(submitted.status).toBe("IN_QUEUE");
    const seen = new Set<string>();
    let job = await client.status("slow", submitted.id);
    while (!isTerminal(job.status)) {
      seen.add(job.status);
      await new Promise((r) => setTimeout(r, 20));
      job = await client.status("slow", submitted.id);
    }
    expect(seen.has("IN_PROGRESS")).toBe(true);
    expect(job.status).toBe("COMPLETED");
    expect(job.executionTime).toBe(400);
  });

  it("returns FAILED sync jobs with their error instead of throwing", async () => {
    sim.knobs.failNextJobs = 1;
    const failed = await client.runSync("kokoro", { text: "boom" }, { waitMs: 2000 });
    expect(failed.status).toBe("FAILED");
    expect(failed.error).toBe("simulated worker failure");
    const invalid = await client.runSync("kokoro", { voice: "af_heart" }, { waitMs: 2000 });
    expect(invalid.status).toBe("FAILED");
    expect(invalid.error).toBe("text is required");
  });

  it("accepts a FAILED job delivered with HTTP 400", async () => {
    const job = { id: "sync-abc-u1", status: "FAILED", error: "boom" };
    const fake = (async () =>
      new Response(JSON.stringify(job), {
        status: 400,
        headers: { "content-type": "application/json" },
      })) as typeof fetch;
    const withFake = new ServerlessClient(configFor(sim), { fetch: fake });
    await expect(withFake.runSync("kokoro", { text: "x" })).resolves.toEqual(job);
  });

  it("times a job out when execution exceeds policy.executionTimeout", async () => {
    const submitted = await client.run("slow", { text: "too slow" }, { executionTimeout: 100 });
    const job = await client.waitForJob("slow", submitted.id, { pollMs: 20, timeoutMs: 3000 });
    expect(job.status).toBe("TIMED_OUT");
    const retried = await client.retry("slow", submitted.id);
    expect(retried).toEqual({ id: submitted.id, status: "IN_QUEUE" });
  });

  it("cancels a running job and refuses to retry a cancelled one", async () => {
    const submitted = await client.run("slow", { text: "cancel me" });
    const cancelled = await client.cancel("slow", submitted.id);
    expect(cancelled.status).toBe("CANCELLED");
    expect((await client.status("slow", submitted.id)).status).toBe("CANCELLED");
    await expect(client.retry("slow", submitted.id)).rejects.toBeInstanceOf(RunpodBadRequest);
  });

  it("forgets results after retention: 1 min for /runsync, 30 min for /run", async () => {
    const sync = await client.runSync("kokoro", { text: "short lived" }, { waitMs: 2000 });
    const submitted = await client.run("kokoro", { text: "long lived" });
    await client.waitForJob("kokoro", submitted.id, { pollMs: 20, timeoutMs: 2000 });
    sim.advanceTime(61_000);
    await expect(client.status("kokoro", sync.id)).rejects.toBeInstanceOf(RunpodNotFound);
    expect((await client.status("kokoro", submitted.id)).status).toBe("COMPLETED");
    sim.advanceTime(30 * 60_000);
    await expect(client.status("kokoro", submitted.id)).rejects.toBeInstanceOf(RunpodNotFound);
  });

  it("reports health and purges the queue", async () => {
    sim.coolDown("kokoro");
    const first = await client.run("kokoro", { text: "queued one" });
    await client.run("kokoro", { text: "queued two" });
    const health = await client.health("kokoro");
    expect(health.jobs.inQueue).toBeGreaterThanOrEqual(2);
    expect(health.jobs.completed).toBeGreaterThanOrEqual(1);
    expect(health.workers.initializing).toBe(1);
    expect(health.workers).toEqual(
      expect.objectContaining({ idle: 0, running: 0, ready: 0, throttled: 0 }),
    );
    expect((await client.purgeQueue("kokoro")).removed).toBeGreaterThanOrEqual(2);
    await expect(client.status("kokoro", first.id)).rejects.toBeInstanceOf(RunpodNotFound);
  });

  it("rejects payloads over 10 MB on /run with 413", async () => {
    const error = await client.run("kokoro", { text: "x".repeat(10 * 1024 * 1024 + 10) })
      .catch((e) => e);
    expect(error).toBeInstanceOf(RunpodBadRequest);
    expect(error.status).toBe(413);
  });

  it("answers 401 for a bad key and 404 for an unknown endpoint", async () => {
    const bad = new ServerlessClient(configFor(sim, "wrong-key-xyz"));
    const error = await bad.health("kokoro").catch((e) => e);
    expect(error).toBeInstanceOf(RunpodAuthError);
    expect(error.message).not.toContain("wrong-key-xyz");
    await expect(client.health("nope")).rejects.toBeInstanceOf(RunpodNotFound);
  });

  it("runs native vLLM input and returns the OpenAI response as a list", async () => {
    const job = await client.runSync("qwen3-8b", {
      messages: [{ role: "user", content: "say something nice" }],
      sampling_params: { max_tokens: 2 },
    }, { waitMs: 2000 });
    expect(job.status).toBe("COMPLETED");
    const [completion] = job.output as any[];
    expect(completion.object).toBe("chat.completion");
    expect(completion.model).toBe("Qwen/Qwen3-8B");
    expect(completion.choices[0]).toMatchObject({
      message: { role: "assistant", content: "Echo: say" },
      finish_reason: "length",
    });
  });

  it("builds the OpenAI base URL for an endpoint", () => {
    expect(client.openAiBaseUrl("qwen3-8b")).toBe(`${sim.serverlessUrl}/qwen3-8b/openai/v1`);
  });
});
