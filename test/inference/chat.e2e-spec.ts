import OpenAI from "openai";
import { type LocalUpstream, startLocalUpstream } from "../support/upstreams/openai-upstream.ts";
import type { TestApp } from "../support/test-app.ts";
import {
  createTenant,
  dataFrames,
  inferenceEvents,
  rawStream,
  registerExternal,
  startGateway,
  type Tenant,
} from "./support.ts";

describe("chat completions through the gateway", () => {
  let gateway: TestApp;
  let ollama: LocalUpstream;
  let vllm: LocalUpstream;
  let tenant: Tenant;

  beforeAll(async () => {
    ollama = await startLocalUpstream("ollama");
    vllm = await startLocalUpstream("vllm", { apiKey: "upstream-secret-key" });
    gateway = await startGateway();
    tenant = await createTenant(gateway);
    expect(
      (await registerExternal(gateway, tenant, {
        name: "mistral",
        model: "mistral:7b",
        base_url: ollama.baseUrl,
      })).status,
    ).toBe(201);
    const qwen = await registerExternal(gateway, tenant, {
      name: "qwen",
      model: "Qwen/Qwen3-8B",
      base_url: vllm.baseUrl,
      api_key: "upstream-secret-key",
    });
    expect(qwen.status).toBe(201);
    expect(JSON.stringify(qwen.body)).not.toContain("upstream-secret-key");
  });

  afterAll(async () => {
    await gateway?.close();
    await ollama?.close();
    await vllm?.close();
  });

  it("answers a non-streamed chat with the client's model name, fingerprint, x_modelpilot and request id", async () => {
    const { data, response } = await tenant.client.chat.completions
      .create({ model: "mistral", messages: [{ role: "user", content: "Hello there" }] })
      .withResponse();
    expect(response.headers.get("content-type")).toContain("application/json");
    expect((data as { _request_id?: string | null })._request_id).toBe(
      response.headers.get("x-request-id"),
    );
    expect(data.model).toBe("mistral");
    expect(data.choices[0].message.content).toBe("Hello from ollama! You said: Hello there");
    expect(data.usage).toEqual({ prompt_tokens: 2, completion_tokens: 7, total_tokens: 9 });
    const deployment = (data as any).x_modelpilot;
    expect(data.system_fingerprint).toBe(`modelpilot-${deployment.deployment_id}`);
    expect(deployment).toMatchObject({
      model_identifier: "mistral:7b",
      direct_endpoint: ollama.baseUrl,
    });
    expect(typeof deployment.response_time_ms).toBe("number");
    expect(ollama.requests.at(-1)!.body.model).toBe("mistral:7b");
    expect(ollama.requests.at(-1)!.headers.authorization).toBeUndefined();
  });

  it("routes by model identifier and on the /api/v1 prefix, sending the registered upstream key", async () => {
    const completion = await tenant.apiClient.chat.completions.create({
      model: "Qwen/Qwen3-8B",
      messages: [{ role: "user", content: "hi" }],
    });
    expect(completion.model).toBe("Qwen/Qwen3-8B");
    expect(vllm.requests.at(-1)!.headers.authorization).toBe("Bearer upstream-secret-key");
    expect(vllm.requests.at(-1)!.headers.authorization).not.toContain(tenant.key);
  });

  it("streams with role first, one finish_reason, no usage chunk unless asked, and [DONE]", async () => {
    const { text, headers } = await rawStream(`${gateway.url}/v1/chat/completions`, tenant.key, {
      model: "mistral",
      stream: true,
      messages: [{ role: "user", content: "stream me" }],
    });
    expect(headers.get("content-type")).toContain("text/event-stream");
    expect(headers.get("x-request-id")).toBeTruthy();
    const frames = dataFrames(text);
    expect(frames.at(-1)).toBe("[DONE]");
    const chunks = frames.slice(0, -1).map((frame) => JSON.parse(frame));
    expect(chunks[0].choices[0].delta.role).toBe("assistant");
    expect(chunks.every((chunk) => chunk.choices.length > 0)).toBe(true);
    expect(chunks.every((chunk) => !("usage" in chunk))).toBe(true);
    expect(chunks.filter((chunk) => chunk.choices[0].finish_reason !== null)).toHaveLength(1);
    expect(chunks.every((chunk) => chunk.model === "mistral")).toBe(true);
    expect(chunks.map((chunk) => chunk.choices[0].delta.content ?? "").join("")).toBe(
      "Hello from ollama! You said: stream me",
    );
    // The gateway always asks the upstream for usage, for metering.
    expect(ollama.requests.at(-1)!.body.stream_options).toEqual({ include_usage: true });
  });

  it("streams usage only when asked: usage:null on chunks and a final choices:[] chunk", async () => {
    const stream = await tenant.client.chat.completions.create({
      model: "qwen",
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: "user", content: "count these words" }],
    });
    const chunks: any[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    const last = chunks.at(-1);
    expect(last.choices).toEqual([]);
    expect(last.usage).toEqual({ prompt_tokens: 3, completion_tokens: 8, total_tokens: 11 });
    expect(chunks.slice(0, -1).every((chunk) => chunk.usage === null)).toBe(true);
  });

  it("lets the node helper reassemble the final completion (role and finish_reason present)", async () => {
    const runner = tenant.client.chat.completions.stream({
      model: "qwen",
      messages: [{ role: "user", content: "x" }],
    });
    const final = await runner.finalChatCompletion();
    expect(final.choices[0].message.content).toBe("Hello from vllm! You said: x");
    expect(final.choices[0].finish_reason).toBe("stop");
  });

  it("reassembles a streamed tool call with integer indexes and finish_reason tool_calls", async () => {
    for (const model of ["mistral", "qwen"]) {
      const runner = tenant.client.chat.completions.stream({
        model,
        messages: [{ role: "user", content: "weather in Paris?" }],
        tools: [{
          type: "function",
          function: { name: "get_weather", parameters: { type: "object", properties: {} } },
        }],
      });
      const final = await runner.finalChatCompletion();
      expect(final.choices[0].finish_reason).toBe("tool_calls");
      expect(final.choices[0].message.tool_calls?.[0]).toMatchObject({
        type: "function",
        function: { name: "get_weather", arguments: '{"city": "Paris"}' },
      });
    }
  });

  it("honours max_completion_tokens on an Ollama upstream by sending max_tokens", async () => {
    const completion = await tenant.client.chat.completions.create({
      model: "mistral",
      max_completion_tokens: 2,
      messages: [{ role: "user", content: "long answer please" }],
    });
    expect(completion.choices[0].finish_reason).toBe("length");
    expect(completion.choices[0].message.content).toBe("Hello from");
    const sent = ollama.requests.at(-1)!.body;
    expect(sent.max_tokens).toBe(2);
  });

  it("passes extra sampling parameters through and drops tools:[] and stream_options for vLLM", async () => {
    await tenant.client.chat.completions.create({
      model: "qwen",
      messages: [{ role: "user", content: "x" }],
      tools: [],
      // @ts-expect-error vLLM extras are not in the OpenAI types
      top_k: 20,
      min_p: 0.05,
      repetition_penalty: 1.1,
    });
    const sent = vllm.requests.at(-1)!.body;
    expect(sent).toMatchObject({ top_k: 20, min_p: 0.05, repetition_penalty: 1.1 });
    expect(sent.tools).toBeUndefined();
    expect(sent.stream_options).toBeUndefined();
  });

  it("turns a vLLM mid-stream error frame into an APIError for the node client, then [DONE]", async () => {
    vllm.knobs.dieAfterTokens = 2;
    try {
      const { text } = await rawStream(`${gateway.url}/v1/chat/completions`, tenant.key, {
        model: "qwen",
        stream: true,
        messages: [{ role: "user", content: "x" }],
      });
      const frames = dataFrames(text);
      expect(frames.at(-1)).toBe("[DONE]");
      expect(JSON.parse(frames.at(-2)!).error.message).toBe("CUDA out of memory while generating");
      const stream = await tenant.client.chat.completions.create({
        model: "qwen",
        stream: true,
        messages: [{ role: "user", content: "x" }],
      });
      await expect((async () => {
        for await (const _ of stream) { /* read until the error */ }
      })()).rejects.toThrow(/CUDA out of memory/);
    } finally {
      vllm.knobs.dieAfterTokens = null;
    }
  });

  it("turns an Ollama truncated stream (no finish, no [DONE]) into an error frame", async () => {
    ollama.knobs.dieAfterTokens = 3;
    try {
      const stream = await tenant.client.chat.completions.create({
        model: "mistral",
        stream: true,
        messages: [{ role: "user", content: "x" }],
      });
      const error = await (async () => {
        try {
          for await (const _ of stream) { /* read */ }
        } catch (caught) {
          return caught;
        }
      })();
      expect(error).toBeInstanceOf(OpenAI.APIError);
      expect((error as InstanceType<typeof OpenAI.APIError>).code).toBe(
        "upstream_stream_truncated",
      );
    } finally {
      ollama.knobs.dieAfterTokens = null;
    }
  });

  it("aborts the upstream at once when the client disconnects, and records the usage seen", async () => {
    ollama.knobs.tokenDelayMs = 50;
    try {
      const before = ollama.abortedStreams;
      const controller = new AbortController();
      const stream = await tenant.client.chat.completions.create(
        {
          model: "mistral",
          stream: true,
          messages: [{ role: "user", content: "one two three four five six" }],
        },
        { signal: controller.signal },
      );
      let seen = 0;
      try {
        for await (const _ of stream) {
          if (++seen === 3) controller.abort();
        }
      } catch {
        // the SDK may end or throw on abort; either is fine
      }
      expect(seen).toBe(3);
      const deadline = Date.now() + 2_000;
      while (ollama.abortedStreams === before && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 10));
      }
      expect(ollama.abortedStreams).toBe(before + 1);
      const events = await inferenceEvents(gateway);
      const aborted = events.find((event) => event.data.clientAborted === true);
      expect(aborted?.type).toBe("InferenceCompleted");
      expect(aborted?.data.completionTokens).toBeGreaterThan(0);
    } finally {
      ollama.knobs.tokenDelayMs = 0;
    }
  });

  it("records one InferenceCompleted per request with upstream usage, latency and time to first token", async () => {
    const completion = await tenant.client.chat.completions.create({
      model: "mistral",
      messages: [{ role: "user", content: "measure me" }],
    });
    const events = await inferenceEvents(gateway);
    const mine = events.filter((event) => event.data.requestId === completion._request_id);
    expect(mine).toHaveLength(1);
    expect(mine[0].type).toBe("InferenceCompleted");
    expect(mine[0].data).toMatchObject({
      accountId: tenant.accountId,
      model: "mistral",
      upstreamModel: "mistral:7b",
      routeKind: "external",
      promptTokens: 2,
      completionTokens: 7,
      totalTokens: 9,
      usageEstimated: false,
      chargedMicros: 0,
    });
    expect(typeof mine[0].data.keyId).toBe("string");
    expect(mine[0].data.latencyMs).toBeGreaterThanOrEqual(0);
    expect(mine[0].data.timeToFirstTokenMs).not.toBeNull();
  });

  it("marks usage as estimated when the upstream reports none", async () => {
    ollama.knobs.omitUsage = true;
    try {
      const completion = await tenant.client.chat.completions.create({
        model: "mistral",
        messages: [{ role: "user", content: "no usage" }],
      });
      const events = await inferenceEvents(gateway);
      const mine = events.find((event) => event.data.requestId === completion._request_id)!;
      expect(mine.data.usageEstimated).toBe(true);
      expect(mine.data.completionTokens).toBeGreaterThan(0);
    } finally {
      ollama.knobs.omitUsage = false;
    }
  });
});
