import { PodsClient } from "../../src/runpod/pods.client.ts";
import {
  RunpodHttp,
  RunpodRateLimited,
  RunpodTimeout,
  RunpodUnavailable,
} from "../../src/runpod/runpod-http.ts";
import { ServerlessClient } from "../../src/runpod/serverless.client.ts";
import { type RunpodSimulator, startRunpodSimulator } from "../support/runpod-sim/index.ts";

const KEY = "rp_http_secret_key_456";

describe("RunpodHttp retries, timeouts and errors", () => {
  let sim: RunpodSimulator;
  let retries: { attempt: number; delayMs: number; reason: string }[];
  let http: RunpodHttp;

  beforeAll(async () => {
    sim = await startRunpodSimulator({ apiKey: KEY });
    // One untimed request first: the specs below allow 300 ms per attempt, and a cold process
    // on a loaded machine can spend that compiling its first request (seen once in CI as a
    // "timeout" retry before the expected 429 and 500).
    await new RunpodHttp({ baseUrl: sim.restUrl, apiKey: KEY, timeoutMs: 30_000, maxRetries: 0 })
      .request({ method: "GET", path: "/pods" });
  });
  afterAll(() => sim.close());
  beforeEach(() => {
    retries = [];
    http = new RunpodHttp({
      baseUrl: sim.restUrl,
      apiKey: KEY,
      timeoutMs: 300,
      maxRetries: 3,
      baseDelayMs: 5,
      onRetry: (info) => retries.push(info),
    });
  });

  it("retries 429 and 500 on a GET, then succeeds", async () => {
    sim.failNext("/rest/v2/pods", 429, 1);
    sim.failNext("/rest/v2/pods", 500, 1);
    const { status, body } = await http.request<{ pods: unknown[] }>({
      method: "GET",
      path: "/pods",
    });
    expect(status).toBe(200);
    expect(Array.isArray(body.pods)).toBe(true);
    expect(retries.map((r) => r.reason)).toEqual(["429", "500"]);
  });

  it("honours Retry-After on 429", async () => {
    sim.failNext("/rest/v2/pods", 429, 1, { retryAfterSeconds: 1 });
    const started = Date.now();
    await http.request({ method: "GET", path: "/pods" });
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(retries[0].delayMs).toBe(1000);
  });

  it("gives up after maxRetries with RunpodUnavailable", async () => {
    sim.failNext("/rest/v2/pods", 503, 4);
    const error = await http.request({ method: "GET", path: "/pods" }).catch((e) => e);
    expect(error).toBeInstanceOf(RunpodUnavailable);
    expect(error.status).toBe(503);
    expect(error.attempts).toBe(4);
    expect(error.retryable).toBe(true);
    expect(retries).toHaveLength(3);
  });

  it("gives up on a persistent 429 with RunpodRateLimited", async () => {
    sim.failNext("/rest/v2/pods", 429, 4);
    const error = await http.request({ method: "GET", path: "/pods" }).catch((e) => e);
    expect(error).toBeInstanceOf(RunpodRateLimited);
    expect(error.status).toBe(429);
  });

  it("times out each attempt and reports RunpodTimeout after the retries", async () => {
    sim.stallNext("/rest/v2/pods", 1000, 2);
    const quick = new RunpodHttp({
      baseUrl: sim.restUrl,
      apiKey: KEY,
      timeoutMs: 100,
      maxRetries: 1,
      baseDelayMs: 5,
    });
    const started = Date.now();
    const error = await quick.request({ method: "GET", path: "/pods" }).catch((e) => e);
    expect(error).toBeInstanceOf(RunpodTimeout);
    expect(error.status).toBeNull();
    expect(error.attempts).toBe(2);
    expect(Date.now() - started).toBeLessThan(900);
  });

  it("does not retry a pod create after a 500 or a timeout, but does after a 429", async () => {
    const pods = new PodsClient(
      {
        restUrl: sim.restUrl,
        apiUrl: sim.serverlessUrl,
        podProxyTemplate: sim.podProxyTemplate,
        apiKey: KEY,
        requestTimeoutMs: 150,
        maxRetries: 3,
      },
      { baseDelayMs: 5 },
    );
    const input = { name: "p", image: "ollama/ollama", gpu: { id: "NVIDIA A40", count: 1 } };
    const creates = () =>
      sim.requests.filter((r) => r.method === "POST" && r.path === "/rest/v2/pods").length;

    let before = creates();
    sim.failNext("/rest/v2/pods", 500, 1);
    await expect(pods.createPod(input)).rejects.toBeInstanceOf(RunpodUnavailable);
    expect(creates() - before).toBe(1);

    before = creates();
    sim.stallNext("/rest/v2/pods", 500, 1);
    const timeout = await pods.createPod(input).catch((e) => e);
    expect(timeout).toBeInstanceOf(RunpodTimeout);
    expect(timeout.detail).toContain("may or may not have been carried out");
    expect(creates() - before).toBe(1);

    before = creates();
    sim.failNext("/rest/v2/pods", 429, 1);
    const pod = await pods.createPod(input);
    expect(pod.status).toBe("PROVISIONING");
    expect(creates() - before).toBe(2);
    await pods.terminatePod(pod.id);
  });

  it("does not retry a serverless /run after a 500", async () => {
    const serverless = new ServerlessClient(
      {
        restUrl: sim.restUrl,
        apiUrl: sim.serverlessUrl,
        podProxyTemplate: sim.podProxyTemplate,
        apiKey: KEY,
        requestTimeoutMs: 500,
        maxRetries: 3,
      },
      { baseDelayMs: 5 },
    );
    const before = sim.requests.length;
    sim.failNext("/serverless/v2/kokoro/run", 500, 1);
    await expect(serverless.run("kokoro", { text: "hi" })).rejects.toBeInstanceOf(
      RunpodUnavailable,
    );
    expect(sim.requests.length - before).toBe(1);
  });

  it("reports a refused connection as RunpodUnavailable after retrying", async () => {
    const closed = await startRunpodSimulator();
    const url = closed.restUrl;
    await closed.close();
    const dead = new RunpodHttp({
      baseUrl: url,
      apiKey: KEY,
      timeoutMs: 300,
      maxRetries: 2,
      baseDelayMs: 5,
    });
    const error = await dead.request({ method: "GET", path: "/pods" }).catch((e) => e);
    expect(error).toBeInstanceOf(RunpodUnavailable);
    expect(error.status).toBeNull();
    expect(error.attempts).toBe(3);
    expect(error.message).not.toContain(KEY);
  });

  it("never puts the key in an error, even when the server echoes it", async () => {
    sim.failNext("/rest/v2/pods", 400, 1, { detail: `bad header Bearer ${KEY}` });
    const error = await http.request({ method: "GET", path: "/pods" }).catch((e) => e);
    const everything = `${error.message} ${error.detail} ${
      JSON.stringify(error.body)
    } ${error.stack}`;
    expect(everything).not.toContain(KEY);
    expect(error.detail).toContain("[redacted]");
  });
});
