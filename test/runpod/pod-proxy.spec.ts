import OpenAI from "openai";
import {
  OllamaClient,
  OllamaError,
  podProxyUrl,
  type PullProgress,
} from "../../src/runpod/pod-proxy.ts";
import { PodsClient } from "../../src/runpod/pods.client.ts";
import { type RunpodSimulator, startRunpodSimulator } from "../support/runpod-sim/index.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("pod proxy and Ollama", () => {
  let sim: RunpodSimulator;
  let pods: PodsClient;

  beforeAll(async () => {
    sim = await startRunpodSimulator({
      provisionMs: 20,
      startMs: 20,
      ollamaReadyMs: 150,
      pullMs: 80,
      unknownModels: ["nosuchmodel"],
    });
    pods = new PodsClient({
      restUrl: sim.restUrl,
      apiUrl: sim.serverlessUrl,
      podProxyTemplate: sim.podProxyTemplate,
      requestTimeoutMs: 2000,
      maxRetries: 0,
    });
  });
  afterAll(() => sim.close());

  async function readyPod(): Promise<{ id: string; ollama: OllamaClient }> {
    const pod = await pods.createPod({
      name: "ollama",
      image: "ollama/ollama:latest",
      gpu: { id: "NVIDIA A40", count: 1 },
      ports: ["11434/http"],
    });
    const ollama = OllamaClient.forPod(sim.podProxyTemplate, pod.id, { readyTimeoutMs: 500 });
    for (let i = 0; i < 100 && !(await ollama.isReady()); i++) await sleep(10);
    return { id: pod.id, ollama };
  }

  it("substitutes the pod id and port into the proxy template", () => {
    expect(podProxyUrl("https://{podId}-{port}.proxy.runpod.net", "abc123", 11434))
      .toBe("https://abc123-11434.proxy.runpod.net");
    expect(podProxyUrl(sim.podProxyTemplate, "abc", 11434)).toBe(`${sim.baseUrl}/proxy/abc-11434`);
  });

  it("answers 502 until the pod runs and Ollama is up, then 'Ollama is running'", async () => {
    const pod = await pods.createPod({
      name: "ollama",
      image: "ollama/ollama:latest",
      gpu: { id: "NVIDIA A40", count: 1 },
      ports: ["11434/http"],
    });
    const url = podProxyUrl(sim.podProxyTemplate, pod.id, 11434);
    const early = await fetch(`${url}/`);
    await early.body?.cancel();
    expect(early.status).toBe(502);
    const ollama = new OllamaClient(url);
    expect(await ollama.isReady()).toBe(false);
    let waited = 0;
    while (!(await ollama.isReady())) {
      await sleep(10);
      waited += 10;
      expect(waited).toBeLessThan(2000);
    }
    expect((await pods.getPod(pod.id)).status).toBe("RUNNING");
    const head = await fetch(`${url}/`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(await ollama.version()).toBe(sim.knobs.ollamaVersion);
    sim.killPod(pod.id);
    expect(await ollama.isReady()).toBe(false);
  });

  it("streams a pull with progress, then lists the model", async () => {
    const { ollama } = await readyPod();
    expect(await ollama.tags()).toEqual([]);
    const progress: PullProgress[] = [];
    await ollama.pull("llama3.2", (p) => progress.push(p));
    const statuses = progress.map((p) => p.status);
    expect(statuses[0]).toBe("pulling manifest");
    expect(statuses.slice(-3)).toEqual(["verifying sha256 digest", "writing manifest", "success"]);
    const downloads = progress.filter((p) => p.total);
    expect(downloads.length).toBeGreaterThan(2);
    expect(downloads.at(-1)!.completed).toBe(downloads.at(-1)!.total);
    expect(downloads[0].digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    const tags = await ollama.tags();
    expect(tags.map((t) => t.name)).toEqual(["llama3.2:latest"]);
  });

  it("fails a pull that ends with an error line", async () => {
    const { ollama } = await readyPod();
    const error = await ollama.pull("nosuchmodel").catch((e) => e);
    expect(error).toBeInstanceOf(OllamaError);
    expect(error.message).toContain("file does not exist");
  });

  it("serves the OpenAI API the way Ollama does", async () => {
    const { id, ollama } = await readyPod();
    sim.addPodModel(id, "llama3.2");
    const openai = new OpenAI({ baseURL: ollama.openAiBaseUrl, apiKey: "ollama", maxRetries: 0 });

    const models = await openai.models.list();
    expect(models.data.map((m) => m.id)).toEqual(["llama3.2:latest"]);
    expect(models.data[0].owned_by).toBe("library");

    const completion = await openai.chat.completions.create({
      model: "llama3.2",
      messages: [{ role: "user", content: "one two three" }],
      max_completion_tokens: 1, // Ollama ignores it
    });
    expect(completion.choices[0].message.content).toBe("Echo: one two three");
    expect(completion.choices[0].finish_reason).toBe("stop");
    expect(completion.system_fingerprint).toBe("fp_ollama");

    const truncated = await openai.chat.completions.create({
      model: "llama3.2",
      messages: [{ role: "user", content: "one two three" }],
      max_tokens: 2,
    });
    expect(truncated.choices[0]).toMatchObject({
      message: { content: "Echo: one" },
      finish_reason: "length",
    });

    const stream = await openai.chat.completions.create({
      model: "llama3.2",
      messages: [{ role: "user", content: "stream me please" }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks[0].choices[0].delta.role).toBe("assistant");
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? "").join("");
    expect(text).toBe("Echo: stream me please");
    const finish = chunks.filter((c) => c.choices[0]?.finish_reason);
    expect(finish).toHaveLength(1);
    expect(finish[0].choices[0].delta.content).toBe("");
    expect(chunks.at(-1)!.choices).toEqual([]);
    expect(chunks.at(-1)!.usage?.completion_tokens).toBe(4);

    const missing = await openai.chat.completions.create({
      model: "mistral",
      messages: [{ role: "user", content: "hi" }],
    }).catch((e) => e);
    expect(missing).toBeInstanceOf(OpenAI.NotFoundError);
    expect(missing.message).toContain('model "mistral" not found, try pulling it first');

    const embeddings = await openai.embeddings.create({ model: "llama3.2", input: ["a", "b"] });
    expect(embeddings.data).toHaveLength(2);
    expect(embeddings.data[0].embedding).toHaveLength(sim.knobs.embeddingDimensions);
    const again = await openai.embeddings.create({
      model: "llama3.2",
      input: "a",
      encoding_format: "float",
    });
    expect(again.data[0].embedding).toEqual(embeddings.data[0].embedding);

    expect((await ollama.ps()).map((m) => m.name)).toEqual(["llama3.2:latest"]);
  });

  it("streams tool calls when tools are offered", async () => {
    const { id, ollama } = await readyPod();
    sim.addPodModel(id, "llama3.2");
    const openai = new OpenAI({ baseURL: ollama.openAiBaseUrl, apiKey: "ollama", maxRetries: 0 });
    const runner = openai.chat.completions.stream({
      model: "llama3.2",
      messages: [{ role: "user", content: "weather in Paris" }],
      tools: [{
        type: "function",
        function: {
          name: "get_weather",
          parameters: { type: "object", properties: { city: { type: "string" } } },
        },
      }],
    });
    const final = await runner.finalChatCompletion();
    expect(final.choices[0].finish_reason).toBe("tool_calls");
    const call = final.choices[0].message.tool_calls![0] as any;
    expect(call.function.name).toBe("get_weather");
    expect(JSON.parse(call.function.arguments)).toEqual({ city: "Paris" });
  });

  it("dies mid-stream like Ollama: an empty chunk, then EOF without finish_reason or [DONE]", async () => {
    const { id, ollama } = await readyPod();
    sim.addPodModel(id, "llama3.2");
    sim.knobs.ollamaDieAfterTokens = 2;
    try {
      const response = await fetch(`${ollama.openAiBaseUrl}/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          model: "llama3.2",
          stream: true,
          messages: [{ role: "user", content: "a b c d e" }],
        }),
      });
      expect(response.status).toBe(200);
      const events = (await response.text()).split("\n\n").filter(Boolean);
      expect(events).toHaveLength(3);
      expect(events.join("")).not.toContain("[DONE]");
      const last = JSON.parse(events[2].slice("data: ".length));
      expect(last.choices[0]).toMatchObject({ delta: { content: "" }, finish_reason: null });
    } finally {
      sim.knobs.ollamaDieAfterTokens = null;
    }
  });
});
