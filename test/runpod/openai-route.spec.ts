import OpenAI from "openai";
import { ServerlessClient } from "../../src/runpod/serverless.client.ts";
import { type RunpodSimulator, startRunpodSimulator } from "../support/runpod-sim/index.ts";

const KEY = "rp_openai_route_key";

describe("serverless OpenAI route (vLLM) through the official openai SDK", () => {
  let sim: RunpodSimulator;
  let openai: OpenAI;

  beforeAll(async () => {
    sim = await startRunpodSimulator({
      apiKey: KEY,
      coldStartMs: 800,
      idleTimeoutMs: 60_000,
      endpoints: [{ id: "qwen3-8b", worker: "vllm", servedModelName: "Qwen/Qwen3-8B" }],
    });
    const client = new ServerlessClient({
      restUrl: sim.restUrl,
      apiUrl: sim.serverlessUrl,
      podProxyTemplate: sim.podProxyTemplate,
      apiKey: KEY,
      requestTimeoutMs: 2000,
      maxRetries: 0,
    });
    openai = new OpenAI({ baseURL: client.openAiBaseUrl("qwen3-8b"), apiKey: KEY, maxRetries: 0 });
  });
  afterAll(() => sim.close());

  it("delays the first byte by the cold start, then answers warm", async () => {
    sim.coolDown("qwen3-8b");
    let started = Date.now();
    const cold = await openai.chat.completions.create({
      model: "Qwen/Qwen3-8B",
      messages: [{ role: "user", content: "hello world" }],
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(780);
    expect(cold.choices[0].message.content).toBe("Echo: hello world");
    expect(cold.model).toBe("Qwen/Qwen3-8B");
    started = Date.now();
    await openai.chat.completions.create({
      model: "Qwen/Qwen3-8B",
      messages: [{ role: "user", content: "again" }],
    });
    expect(Date.now() - started).toBeLessThan(500);
  });

  it("lists the served model", async () => {
    const models = await openai.models.list();
    expect(models.data).toEqual([
      expect.objectContaining({ id: "Qwen/Qwen3-8B", object: "model", owned_by: "vllm" }),
    ]);
  });

  it("streams vLLM-style: role with empty content first, usage only when asked, [DONE]", async () => {
    const stream = await openai.chat.completions.create({
      model: "Qwen/Qwen3-8B",
      messages: [{ role: "user", content: "count to three" }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks[0].choices[0].delta).toEqual({ role: "assistant", content: "" });
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? "").join("")).toBe(
      "Echo: count to three",
    );
    expect(chunks.at(-1)!.usage).toMatchObject({ completion_tokens: 4 });
    const plain = await openai.chat.completions.create({
      model: "Qwen/Qwen3-8B",
      messages: [{ role: "user", content: "x" }],
      stream: true,
    });
    for await (const chunk of plain) expect(chunk.usage).toBeUndefined();
  });

  it("answers a wrong model with 404 NotFoundError", async () => {
    const error = await openai.chat.completions.create({
      model: "qwen3-8b",
      messages: [{ role: "user", content: "x" }],
    }).catch((e) => e);
    expect(error).toBeInstanceOf(OpenAI.NotFoundError);
    expect(error.type).toBe("NotFoundError");
    expect(error.param).toBe("model");
  });

  it("rejects stream_options without stream and an empty tools list with 400", async () => {
    const streamOptions = await openai.chat.completions.create({
      model: "Qwen/Qwen3-8B",
      messages: [{ role: "user", content: "x" }],
      stream_options: { include_usage: true },
    }).catch((e) => e);
    expect(streamOptions).toBeInstanceOf(OpenAI.BadRequestError);
    expect(streamOptions.type).toBe("BadRequestError");
    expect(streamOptions.code).toBe(400);
    const tools = await openai.chat.completions.create({
      model: "Qwen/Qwen3-8B",
      messages: [{ role: "user", content: "x" }],
      tools: [],
    }).catch((e) => e);
    expect(tools).toBeInstanceOf(OpenAI.BadRequestError);
  });

  it("serves legacy completions and refuses a bad key", async () => {
    const completion = await openai.completions.create({
      model: "Qwen/Qwen3-8B",
      prompt: "once upon a time",
      max_tokens: 3,
    });
    expect(completion.choices[0]).toMatchObject({
      text: "Echo: once upon",
      finish_reason: "length",
    });
    const stranger = new OpenAI({ baseURL: openai.baseURL, apiKey: "nope", maxRetries: 0 });
    await expect(stranger.models.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
  });
});
