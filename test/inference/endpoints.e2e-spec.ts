import { Buffer } from "node:buffer";
import OpenAI from "openai";
import {
  embeddingFor,
  type LocalUpstream,
  startLocalUpstream,
} from "../support/upstreams/openai-upstream.ts";
import { api, type TestApp } from "../support/test-app.ts";
import { createTenant, registerExternal, startGateway, type Tenant } from "./support.ts";

describe("embeddings, models, completions and responses", () => {
  let gateway: TestApp;
  let ollama: LocalUpstream;
  let vllm: LocalUpstream;
  let tenant: Tenant;

  beforeAll(async () => {
    ollama = await startLocalUpstream("ollama");
    vllm = await startLocalUpstream("vllm");
    gateway = await startGateway();
    tenant = await createTenant(gateway);
    await registerExternal(gateway, tenant, {
      name: "mistral",
      model: "mistral:7b",
      base_url: ollama.baseUrl,
    });
    await registerExternal(gateway, tenant, {
      name: "nomic",
      model: "nomic-embed-text:latest",
      base_url: ollama.baseUrl,
    });
    await registerExternal(gateway, tenant, {
      name: "bge",
      model: "BAAI/bge-small-en",
      base_url: vllm.baseUrl,
    });
    await registerExternal(gateway, tenant, {
      name: "tagged",
      model: "org/name:tag",
      base_url: vllm.baseUrl,
    });
  });

  afterAll(async () => {
    await gateway?.close();
    await ollama?.close();
    await vllm?.close();
  });

  it("returns the same embeddings for the SDK default (base64) and an explicit float request", async () => {
    for (const model of ["nomic", "bge"]) {
      const byDefault = await tenant.client.embeddings.create({ model, input: ["alpha", "beta"] });
      const floats = await tenant.client.embeddings.create({
        model,
        input: ["alpha", "beta"],
        encoding_format: "float",
      });
      expect(byDefault.data.map((item) => item.embedding)).toEqual(
        floats.data.map((item) => item.embedding),
      );
      expect(floats.data[1].embedding).toEqual(embeddingFor("beta"));
      expect(floats.data.map((item) => item.index)).toEqual([0, 1]);
      expect(floats.model).toBe(model);
    }
    const raw = await api(gateway.url, "POST", "/v1/embeddings", {
      token: tenant.key,
      body: { model: "nomic", input: "alpha", encoding_format: "base64" },
    });
    const bytes = Buffer.from(raw.body.data[0].embedding, "base64");
    expect(bytes.length % 4).toBe(0);
    expect(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4)[0]).toBeCloseTo(
      embeddingFor("alpha")[0],
      6,
    );
  });

  it("accepts token-array input on vLLM and gives Ollama's refusal as a 400 envelope", async () => {
    const vllmResult = await tenant.client.embeddings.create({
      model: "bge",
      input: [[1, 2, 3], [4, 5]],
      encoding_format: "float",
    });
    expect(vllmResult.data).toHaveLength(2);
    const refused = await api(gateway.url, "POST", "/v1/embeddings", {
      token: tenant.key,
      body: { model: "nomic", input: [1, 2, 3] },
    });
    expect(refused.status).toBe(400);
    expect(refused.body.error).toMatchObject({
      message: "invalid input",
      type: "invalid_request_error",
    });
  });

  it("lists models and retrieves ids containing / and :", async () => {
    const ids: string[] = [];
    for await (const model of tenant.client.models.list()) ids.push(model.id);
    expect(ids).toEqual(
      expect.arrayContaining(["mistral", "mistral:7b", "tagged", "org/name:tag", "qwen3-8b"]),
    );
    const listed = await api(gateway.url, "GET", "/api/v1/models", { token: tenant.key });
    expect(listed.body.object).toBe("list");
    expect(listed.body.data[0]).toEqual({
      id: expect.any(String),
      object: "model",
      created: expect.any(Number),
      owned_by: expect.any(String),
    });
    expect((await tenant.client.models.retrieve("org/name:tag")).id).toBe("org/name:tag");
    expect((await tenant.client.models.retrieve("mistral:7b")).id).toBe("mistral:7b");
    await expect(tenant.client.models.retrieve("missing/model")).rejects.toBeInstanceOf(
      OpenAI.NotFoundError,
    );
  });

  it("serves legacy completions with text_completion objects, streamed and not", async () => {
    const completion = await tenant.client.completions.create({
      model: "mistral",
      prompt: "Say hi",
    });
    expect(completion.object).toBe("text_completion");
    expect(completion.model).toBe("mistral");
    expect(completion.choices[0].text).toBe("Hello from ollama! You said: Say hi");
    const stream = await tenant.client.completions.create({
      model: "tagged",
      prompt: "Say hi",
      stream: true,
    });
    let text = "";
    const objects = new Set<string>();
    for await (const chunk of stream) {
      objects.add(chunk.object);
      text += chunk.choices[0]?.text ?? "";
    }
    expect([...objects]).toEqual(["text_completion"]);
    expect(text).toBe("Hello from vllm! You said: Say hi");
  });

  it("answers responses.create with a completed Response and output_text", async () => {
    const response = await tenant.client.responses.create({
      model: "mistral",
      input: "ping",
      instructions: "Be brief.",
    });
    expect(response.object).toBe("response");
    expect(response.status).toBe("completed");
    expect(response.output_text).toBe("Hello from ollama! You said: ping");
    expect(response.usage?.input_tokens).toBeGreaterThan(0);
    expect(ollama.requests.at(-1)!.body.messages[0]).toEqual({
      role: "system",
      content: "Be brief.",
    });
  });

  it("streams responses with paired event types, increasing sequence numbers and a final response", async () => {
    const stream = tenant.client.responses.stream({ model: "tagged", input: "stream it" });
    const types: string[] = [];
    const sequence: number[] = [];
    for await (const event of stream) {
      types.push(event.type);
      sequence.push(event.sequence_number);
    }
    const final = await stream.finalResponse();
    expect(final.output_text).toBe("Hello from vllm! You said: stream it");
    expect(types[0]).toBe("response.created");
    expect(types.at(-1)).toBe("response.completed");
    expect(types).toEqual(
      expect.arrayContaining(["response.output_text.delta", "response.output_item.done"]),
    );
    expect(sequence).toEqual([...sequence].sort((a, b) => a - b));
  });

  it("refuses previous_response_id with a 400 envelope instead of ignoring it", async () => {
    await expect(
      tenant.client.responses.create({
        model: "mistral",
        input: "x",
        previous_response_id: "resp_123",
      }),
    )
      .rejects.toMatchObject({ status: 400, param: "previous_response_id" });
  });
});

describe("external upstream registration SSRF guard", () => {
  let gateway: TestApp;
  let tenant: Tenant;

  beforeAll(async () => {
    gateway = await startGateway({ ALLOW_PRIVATE_UPSTREAMS: "false" });
    tenant = await createTenant(gateway);
  });

  afterAll(async () => {
    await gateway?.close();
  });

  it.each([
    "http://127.0.0.1:11434/v1",
    "http://localhost:11434/v1",
    "http://10.0.0.5/v1",
    "http://192.168.1.10:8000/v1",
    "http://169.254.169.254/latest",
    "http://[::1]:8000/v1",
    "http://[fd00:ec2::254]/v1",
    "http://100.64.1.1/v1",
    "http://[::ffff:127.0.0.1]/v1",
    "file:///etc/passwd",
  ])("refuses %s when private upstreams are not allowed", async (baseUrl) => {
    const response = await registerExternal(gateway, tenant, {
      name: "x",
      model: "m",
      base_url: baseUrl,
    });
    expect(response.status).toBe(400);
    expect(response.body.error.param).toBe("base_url");
  });

  it("requires the manage permission and names missing fields", async () => {
    const missing = await registerExternal(gateway, tenant, { name: "x", model: "m" } as any);
    expect(missing.status).toBe(400);
    expect(missing.body.error.param).toBe("base_url");
    const key = await api(gateway.url, "POST", "/api/keys", {
      token: tenant.key,
      body: { name: "p", permissions: ["proxy"] },
    });
    const denied = await api(gateway.url, "POST", "/api/deployments", {
      token: key.body.key,
      body: { provider: "external", name: "x", model: "m", base_url: "https://example.com/v1" },
    });
    expect(denied.status).toBe(403);
  });
});
