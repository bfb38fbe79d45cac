import OpenAI from "openai";
import { Buffer } from "node:buffer";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, request as httpRequest, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import v8 from "node:v8";
import vm from "node:vm";
import { ledgerStream } from "../../src/billing/ledger.events.ts";
import { EVENT_STORE, type EventStore } from "../../src/event-store/event-store.port.ts";
import { InferenceService } from "../../src/inference/inference.service.ts";
import { UsageRecorder } from "../../src/inference/usage-recorder.ts";
import { PendingSettlements } from "../../src/inference/pending-settlements.ts";
import { type LocalUpstream, startLocalUpstream } from "../support/upstreams/openai-upstream.ts";
import type { TestApp } from "../support/test-app.ts";
import {
  balanceUsd,
  createTenant,
  registerExternal,
  startGateway,
  type Tenant,
  waitUntil,
} from "../inference/support.ts";

/**
 * Abuse scenarios of issue 11 that concern what an inference request may ask for: 1 (huge
 * `model` strings), 7 (flat-price serverless models doing unbounded work), 8 (the per-account
 * cap on concurrent upstream calls) and 10 (a request refused before any upstream appends
 * nothing to the ledger). Each prints its measured bound as one JSON line and asserts it.
 */

const MiB = 1024 * 1024;

/** A forced full GC, when V8 lets us have one (it does under Deno and Node alike). */
function collector(): (() => void) | undefined {
  try {
    v8.setFlagsFromString("--expose-gc");
    const gc = vm.runInNewContext("gc") as () => void;
    return typeof gc === "function" ? gc : undefined;
  } catch {
    return undefined;
  }
}

/** A client whose fetch notes the size of every response body it receives. */
function measuringClient(
  gateway: TestApp,
  key: string,
  prefix: "/v1" | "/api/v1",
  sizes: number[],
) {
  return new OpenAI({
    apiKey: key,
    baseURL: `${gateway.url}${prefix}`,
    maxRetries: 0,
    fetch: async (url: string | URL | Request, init?: RequestInit) => {
      const response = await fetch(url, init);
      const text = await response.text();
      sizes.push(Buffer.byteLength(text));
      return new Response(text, { status: response.status, headers: response.headers });
    },
  });
}

interface SharedEndpoint {
  /** What to pass as RUNPOD_API_URL. */
  url: string;
  requests: Array<{ path: string; body: any }>;
  close(): Promise<void>;
}

/** A stand-in for RunPod's shared vLLM endpoints (`/<endpoint>/openai/v1/...`) that records bodies. */
async function startSharedEndpoint(): Promise<SharedEndpoint> {
  const requests: SharedEndpoint["requests"] = [];
  const readBody = async (req: IncomingMessage) => {
    const chunks: Uint8Array[] = [];
    for await (const chunk of req) chunks.push(chunk as Uint8Array);
    return JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}");
  };
  const usage = { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 };
  const server: Server = createServer(async (req, res) => {
    const path = (req.url ?? "").split("?")[0];
    const body = await readBody(req);
    requests.push({ path, body });
    const created = Math.floor(Date.now() / 1000);
    if (path.endsWith("/embeddings")) {
      res.writeHead(200, { "content-type": "application/json" });
      return res.end(JSON.stringify({
        object: "list",
        model: body.model,
        data: [{ object: "embedding", index: 0, embedding: [0.25, 0.5] }],
        usage: { prompt_tokens: 3, total_tokens: 3 },
      }));
    }
    if (path.endsWith("/completions") && !path.endsWith("/chat/completions")) {
      res.writeHead(200, { "content-type": "application/json" });
      return res.end(JSON.stringify({
        id: "cmpl-1",
        object: "text_completion",
        created,
        model: body.model,
        choices: [{ index: 0, text: "ok", finish_reason: "stop", logprobs: null }],
        usage,
      }));
    }
    if (body.stream) {
      res.writeHead(200, { "content-type": "text/event-stream" });
      const chunk = (delta: unknown, finish: string | null, extra = {}) =>
        `data: ${
          JSON.stringify({
            id: "chatcmpl-1",
            object: "chat.completion.chunk",
            created,
            model: body.model,
            choices: [{ index: 0, delta, finish_reason: finish }],
            ...extra,
          })
        }\n\n`;
      res.write(chunk({ role: "assistant", content: "ok" }, null));
      res.write(chunk({}, "stop"));
      res.write(
        `data: ${
          JSON.stringify({
            id: "chatcmpl-1",
            object: "chat.completion.chunk",
            created,
            model: body.model,
            choices: [],
            usage,
          })
        }\n\n`,
      );
      return res.end("data: [DONE]\n\n");
    }
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({
      id: "chatcmpl-1",
      object: "chat.completion",
      created,
      model: body.model,
      choices: [{
        index: 0,
        message: { role: "assistant", content: "ok" },
        finish_reason: "stop",
        logprobs: null,
      }],
      usage,
    }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A MODELS_FILE with flat-price models: defaults, an embedding model and a widened one. */
function writeModelsFile(dir: string): string {
  const file = join(dir, "models.json");
  writeFileSync(
    file,
    JSON.stringify({
      models: [
        {
          id: "flat-chat",
          kind: "text",
          runpod_endpoint_id: "ep-chat",
          served_model_name: "Qwen/Qwen3-8B",
          price_usd: 0.01,
        },
        {
          id: "flat-embed",
          kind: "embedding",
          runpod_endpoint_id: "ep-embed",
          price_usd: 0.001,
          limits: { max_inputs: 4, max_input_chars: 1_000 },
        },
        {
          id: "wide-chat",
          kind: "text",
          runpod_endpoint_id: "ep-wide",
          price_usd: 0.05,
          limits: { max_tokens: 8_192, max_n: 4 },
          extra_parameters: ["top_k", "guided_json"],
        },
      ],
    }),
  );
  return file;
}

/** The status a call was answered with: the SDK error's, or 200 when it succeeded. */
async function statusOf(call: Promise<unknown>): Promise<number> {
  try {
    await call;
    return 200;
  } catch (error) {
    if (error instanceof OpenAI.APIError && error.status !== undefined) return error.status;
    throw error;
  }
}

/** The OpenAI SDK's error for a refused call (the test fails if the call succeeds). */
async function refusal(call: Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
  try {
    await call;
  } catch (error) {
    if (error instanceof OpenAI.APIError) return error;
    throw error;
  }
  throw new Error("the request was not refused");
}

describe("scenario 1: forty 4 MiB model strings", () => {
  let gateway: TestApp;
  let tenant: Tenant;

  beforeAll(async () => {
    gateway = await startGateway();
    tenant = await createTenant(gateway);
  });

  afterAll(async () => {
    await gateway?.close();
  });

  it("refuses each with a small 400 naming model, and keeps none of them in memory", async () => {
    const gc = collector();
    const sizes: number[] = [];
    const clients = {
      "/v1": measuringClient(gateway, tenant.key, "/v1", sizes),
      "/api/v1": measuringClient(gateway, tenant.key, "/api/v1", sizes),
    };
    const routes = [
      (client: OpenAI, model: string) =>
        client.chat.completions.create({ model, messages: [{ role: "user", content: "hi" }] }),
      (client: OpenAI, model: string) => client.completions.create({ model, prompt: "hi" }),
      (client: OpenAI, model: string) => client.embeddings.create({ model, input: "hi" }),
      (client: OpenAI, model: string) => client.responses.create({ model, input: "hi" }),
    ];
    // Warm every route first, so code and caches that are built once are not counted.
    for (const route of routes) {
      for (const client of Object.values(clients)) await refusal(route(client, "warm-up-model"));
    }
    sizes.length = 0;
    gc?.();
    const before = process.memoryUsage();
    const statuses = new Set<number | undefined>();
    const params = new Set<string | null | undefined>();
    for (let i = 0; i < 40; i++) {
      // A distinct 4 MiB name per request, as in the report.
      const model = `${i.toString(36)}-${"m".repeat(4 * MiB)}`;
      const client = i % 2 === 0 ? clients["/v1"] : clients["/api/v1"];
      const error = await refusal(routes[i % routes.length](client, model));
      statuses.add(error.status);
      params.add(error.param);
    }
    gc?.();
    gc?.();
    const after = process.memoryUsage();
    const heapGrowthMb = (after.heapUsed - before.heapUsed) / MiB;
    const rssGrowthMb = (after.rss - before.rss) / MiB;
    const largestBodyBytes = Math.max(...sizes);
    console.log(JSON.stringify({
      scenario: 1,
      requests: 40,
      modelBytes: 4 * MiB,
      statuses: [...statuses],
      heapGrowthMb: Number(heapGrowthMb.toFixed(1)),
      rssGrowthMb: Number(rssGrowthMb.toFixed(1)),
      gcForced: gc !== undefined,
      largestBodyBytes,
    }));
    expect([...statuses]).toEqual([400]);
    expect([...params]).toEqual(["model"]);
    expect(sizes).toHaveLength(40);
    expect(largestBodyBytes).toBeLessThan(1024);
    // 40 retained names would be 160 MiB; the gateway keeps none of them.
    if (gc) expect(heapGrowthMb).toBeLessThan(24);
    else expect(rssGrowthMb).toBeLessThan(100);
  });

  it("answers a model id far longer than any model with a small 404", async () => {
    const response = await fetch(`${gateway.url}/v1/models/${"x".repeat(4_000)}`, {
      headers: { authorization: `Bearer ${tenant.key}` },
    });
    const text = await response.text();
    expect(response.status).toBe(404);
    expect(JSON.parse(text).error.code).toBe("model_not_found");
    expect(text.length).toBeLessThan(1024);
  });

  it("refuses an oversized user or tool name, but still accepts a 256-character model", async () => {
    const userError = await refusal(tenant.client.chat.completions.create({
      model: "qwen3-8b",
      messages: [{ role: "user", content: "hi" }],
      user: "u".repeat(10_000),
    }));
    expect(userError.status).toBe(400);
    expect(userError.param).toBe("user");
    const toolError = await refusal(tenant.client.chat.completions.create({
      model: "qwen3-8b",
      messages: [{ role: "user", content: "hi" }],
      tools: [{ type: "function", function: { name: "t".repeat(10_000), parameters: {} } }],
    }));
    expect(toolError.param).toBe("tools[0].function.name");
    // At the bound the request is routed (and is unknown): a 404, not a length refusal.
    const atBound = await refusal(tenant.client.chat.completions.create({
      model: "a".repeat(256),
      messages: [{ role: "user", content: "hi" }],
    }));
    expect(atBound.status).toBe(404);
  });
});

describe("scenario 7: flat-price serverless models bound the work of one request", () => {
  let gateway: TestApp;
  let endpoint: SharedEndpoint;
  let vllm: LocalUpstream;
  let tenant: Tenant;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "abuse-models-"));
    endpoint = await startSharedEndpoint();
    vllm = await startLocalUpstream("vllm");
    gateway = await startGateway({
      RUNPOD_API_URL: endpoint.url,
      RUNPOD_API_KEY: "rp-test-key",
      MODELS_FILE: writeModelsFile(dir),
    });
    tenant = await createTenant(gateway, "5");
  });

  afterAll(async () => {
    await gateway?.close();
    await endpoint?.close();
    await vllm?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("refuses n, max_tokens, unknown extras and oversized embedding input before the shared endpoint", async () => {
    const startBalance = await balanceUsd(gateway, tenant.accountId);
    const sentBefore = endpoint.requests.length;
    const messages = [{ role: "user" as const, content: "hi" }];
    const cases: Array<[string, () => Promise<unknown>]> = [
      ["n", () => tenant.client.chat.completions.create({ model: "flat-chat", messages, n: 128 })],
      [
        "max_tokens",
        () =>
          tenant.client.chat.completions.create({
            model: "flat-chat",
            messages,
            max_tokens: 32_768,
          }),
      ],
      [
        "max_completion_tokens",
        () =>
          tenant.client.chat.completions.create({
            model: "flat-chat",
            messages,
            max_completion_tokens: 32_768,
          }),
      ],
      [
        "best_of",
        () =>
          tenant.client.chat.completions.create({
            model: "flat-chat",
            messages,
            // @ts-expect-error a vLLM extra, not an OpenAI chat parameter
            best_of: 64,
          }),
      ],
      [
        "prompt_logprobs",
        () =>
          tenant.client.chat.completions.create({
            model: "flat-chat",
            messages,
            // @ts-expect-error a vLLM extra
            prompt_logprobs: 20,
          }),
      ],
      [
        "best_of",
        () => tenant.client.completions.create({ model: "flat-chat", prompt: "hi", best_of: 16 }),
      ],
      [
        "max_output_tokens",
        () =>
          tenant.client.responses.create({
            model: "flat-chat",
            input: "hi",
            max_output_tokens: 100_000,
          }),
      ],
      [
        "input",
        () =>
          tenant.client.embeddings.create({
            model: "flat-embed",
            input: ["a", "b", "c", "d", "e"],
          }),
      ],
      [
        "input",
        () => tenant.client.embeddings.create({ model: "flat-embed", input: "x".repeat(1_001) }),
      ],
      [
        "n",
        () => tenant.client.chat.completions.create({ model: "wide-chat", messages, n: 5 }),
      ],
    ];
    const refused: Array<{ param: string | null | undefined; code: string | null | undefined }> =
      [];
    for (const [param, call] of cases) {
      const error = await refusal(call());
      expect(error.status).toBe(400);
      expect(error.param).toBe(param);
      refused.push({ param: error.param, code: error.code });
    }
    const reachedEndpoint = endpoint.requests.length - sentBefore;
    await gateway.app.get(PendingSettlements).drain();
    const balanceAfter = await balanceUsd(gateway, tenant.accountId);
    console.log(JSON.stringify({
      scenario: 7,
      refused: refused.length,
      reachedSharedEndpoint: reachedEndpoint,
      charged: Number((startBalance - balanceAfter).toFixed(6)),
      codes: [...new Set(refused.map((entry) => entry.code))],
    }));
    expect(reachedEndpoint).toBe(0);
    expect(balanceAfter).toBe(startBalance);
  });

  it("sends the entry's max_tokens when the client sets none, and only allowed extras", async () => {
    const messages = [{ role: "user" as const, content: "hi" }];
    await tenant.client.chat.completions.create({ model: "flat-chat", messages });
    const unbounded = endpoint.requests.at(-1)!;
    expect(unbounded.path).toBe("/ep-chat/openai/v1/chat/completions");
    expect(unbounded.body.max_tokens).toBe(4_096);

    // vLLM extras in the default allow-list (not in the SDK's types).
    const withExtras = { model: "flat-chat", messages, stream: true, top_k: 20, min_p: 0.05 };
    const stream = await tenant.client.chat.completions.create(
      withExtras as OpenAI.ChatCompletionCreateParamsStreaming,
    );
    for await (const _chunk of stream) { /* drain */ }
    expect(endpoint.requests.at(-1)!.body).toMatchObject({
      top_k: 20,
      min_p: 0.05,
      max_tokens: 4_096,
    });

    await tenant.client.chat.completions.create({
      model: "wide-chat",
      messages,
      n: 4,
      max_tokens: 8_192,
      // @ts-expect-error listed in this entry's extra_parameters
      guided_json: { type: "object" },
    });
    expect(endpoint.requests.at(-1)!.body).toMatchObject({
      n: 4,
      max_tokens: 8_192,
      guided_json: { type: "object" },
    });
    // Legacy completions keep vLLM's (and OpenAI's) default of 16 tokens: nothing is added.
    await tenant.client.completions.create({ model: "flat-chat", prompt: "hi" });
    expect(endpoint.requests.at(-1)!.path).toBe("/ep-chat/openai/v1/completions");
    expect(endpoint.requests.at(-1)!.body.max_tokens).toBeUndefined();
    await tenant.client.responses.create({ model: "flat-chat", input: "hi" });
    expect(endpoint.requests.at(-1)!.body.max_tokens).toBe(4_096);
    const embedded = await tenant.client.embeddings.create({
      model: "flat-embed",
      input: ["a", "b", "c", "d"],
      encoding_format: "float",
    });
    expect(embedded.data[0].embedding).toEqual([0.25, 0.5]);
    console.log(JSON.stringify({
      scenario: 7,
      maxTokensSentWhenUnset: unbounded.body.max_tokens,
      defaultMaxN: 1,
      embeddingMaxInputs: 4,
    }));
  });

  it("keeps passing any extra sampling parameter to an account's own upstream", async () => {
    await registerExternal(gateway, tenant, {
      name: "own-vllm",
      model: "Qwen/Qwen3-8B",
      base_url: vllm.baseUrl,
    });
    await tenant.client.chat.completions.create({
      model: "own-vllm",
      messages: [{ role: "user", content: "hi" }],
      n: 3,
      max_tokens: 20_000,
      // @ts-expect-error vLLM extras
      best_of: 5,
      prompt_logprobs: 2,
    });
    expect(vllm.requests.at(-1)!.body).toMatchObject({
      n: 3,
      max_tokens: 20_000,
      best_of: 5,
      prompt_logprobs: 2,
    });
  });
});

describe("scenario 8: concurrent upstream calls per account are capped", () => {
  const CAP = 3;
  let gateway: TestApp;
  let upstream: LocalUpstream;
  let fast: LocalUpstream;
  let flood: LocalUpstream;
  let tenant: Tenant;
  let other: Tenant;

  beforeAll(async () => {
    // Streams that last ~10 s unless aborted: 200 words, 50 ms apart.
    upstream = await startLocalUpstream("vllm", {
      tokenDelayMs: 50,
      replyText: Array.from({ length: 200 }, (_, i) => `w${i}`).join(" "),
    });
    fast = await startLocalUpstream("vllm");
    // ~24 MB of tokens at once: more than the sockets between here and a non-reading client hold.
    flood = await startLocalUpstream("vllm", {
      replyText: Array.from({ length: 24_000 }, (_, i) => `${i}${"z".repeat(1_000)}`).join(" "),
    });
    gateway = await startGateway({
      MAX_CONCURRENT_REQUESTS_PER_ACCOUNT: String(CAP),
      STREAM_STALL_TIMEOUT_MS: "500",
    });
    tenant = await createTenant(gateway);
    other = await createTenant(gateway);
    await registerExternal(gateway, tenant, {
      name: "fast",
      model: "Qwen/Qwen3-8B",
      base_url: fast.baseUrl,
    });
    await registerExternal(gateway, tenant, {
      name: "flood",
      model: "Qwen/Qwen3-8B",
      base_url: flood.baseUrl,
    });
    for (const account of [tenant, other]) {
      const registered = await registerExternal(gateway, account, {
        name: "slow",
        model: "Qwen/Qwen3-8B",
        base_url: upstream.baseUrl,
      });
      expect(registered.status).toBe(201);
    }
  });

  afterAll(async () => {
    await gateway?.close();
    await upstream?.close();
    await fast?.close();
    await flood?.close();
  });

  async function openStream(account: Tenant, model = "slow") {
    const controller = new AbortController();
    const stream = await account.client.chat.completions.create(
      { model, stream: true, messages: [{ role: "user", content: "go" }] },
      { signal: controller.signal },
    );
    const iterator = stream[Symbol.asyncIterator]();
    await iterator.next(); // the stream is live upstream
    return {
      abort: () => controller.abort(),
      drain: async () => {
        for (;;) if ((await iterator.next()).done) return;
      },
    };
  }

  it("answers 429 concurrency_limit_exceeded past the cap, and frees each slot exactly once", async () => {
    const service = gateway.app.get(InferenceService);
    const started = performance.now();
    const streams = [];
    for (let i = 0; i < CAP; i++) streams.push(await openStream(tenant));

    // Past the cap: refused before any upstream call, streamed or not.
    const upstreamCalls = upstream.requests.length;
    const refusedCodes: Array<string | null | undefined> = [];
    for (const stream of [true, false]) {
      const error = await refusal(tenant.client.chat.completions.create({
        model: "slow",
        stream,
        messages: [{ role: "user", content: "one more" }],
      }));
      expect(error.status).toBe(429);
      expect(error.type).toBe("rate_limit_error");
      refusedCodes.push(error.code);
    }
    expect(refusedCodes).toEqual(["concurrency_limit_exceeded", "concurrency_limit_exceeded"]);
    expect(upstream.requests.length).toBe(upstreamCalls);
    expect(service.inFlight(tenant.accountId)).toBe(CAP);
    // Another account is not held up by this one.
    const otherStream = await openStream(other);
    otherStream.abort();

    // A client abort frees its slot (once: the count drops by one, not two).
    streams[0].abort();
    await waitUntil(() => service.inFlight(tenant.accountId) === CAP - 1);
    // An upstream error frees its slot.
    upstream.failNext("/chat/completions", { status: 500, body: { error: "boom" } });
    const failed = await refusal(tenant.client.chat.completions.create({
      model: "slow",
      messages: [{ role: "user", content: "fail" }],
    }));
    expect(failed.status).toBe(500);
    expect(service.inFlight(tenant.accountId)).toBe(CAP - 1);
    // A stream that ends normally frees its slot when it ends, not before.
    const quick = await openStream(tenant, "fast");
    await quick.drain();
    await waitUntil(() => service.inFlight(tenant.accountId) === CAP - 1);
    // A refused-by-validation request never takes a slot.
    await refusal(tenant.client.chat.completions.create({
      model: "slow",
      temperature: 9,
      messages: [{ role: "user", content: "x" }],
    }));
    expect(service.inFlight(tenant.accountId)).toBe(CAP - 1);

    for (const stream of streams.slice(1)) stream.abort();
    await waitUntil(() => service.inFlight(tenant.accountId) === 0);
    await waitUntil(() => service.inFlight(other.accountId) === 0);
    // Every slot is back: the full cap can be used again.
    const again = [];
    for (let i = 0; i < CAP; i++) again.push(await openStream(tenant));
    expect(service.inFlight(tenant.accountId)).toBe(CAP);
    for (const stream of again) stream.abort();
    await waitUntil(() => service.inFlight(tenant.accountId) === 0);
    console.log(JSON.stringify({
      scenario: 8,
      perAccountCap: CAP,
      refusedPastCap: refusedCodes.length,
      upstreamCallsWhenRefused: 0,
      inFlightAfterAll: service.inFlight(tenant.accountId),
      seconds: Number(((performance.now() - started) / 1000).toFixed(2)),
    }));
  });
  it("frees the slot of a stream whose client never reads once the stall timeout ends it", async () => {
    const service = gateway.app.get(InferenceService);
    const started = performance.now();
    const url = new URL(`${gateway.url}/v1/chat/completions`);
    const request = httpRequest(url, {
      method: "POST",
      headers: { authorization: `Bearer ${tenant.key}`, "content-type": "application/json" },
    });
    const response = new Promise<IncomingMessage>((resolve, reject) => {
      request.on("response", resolve).on("error", reject);
    });
    request.end(JSON.stringify({
      model: "flood",
      stream: true,
      messages: [{ role: "user", content: "flood" }],
    }));
    const reply = await response;
    reply.pause(); // never read: the gateway's writes back up until the stall timeout
    await waitUntil(() => service.inFlight(tenant.accountId) === 1);
    await waitUntil(() => service.inFlight(tenant.accountId) === 0, 10_000);
    const freedAfterSeconds = (performance.now() - started) / 1000;
    reply.destroy();
    console.log(JSON.stringify({
      scenario: 8,
      case: "stream client never reads",
      stallTimeoutMs: 500,
      slotFreedAfterSeconds: Number(freedAfterSeconds.toFixed(2)),
    }));
    expect(freedAfterSeconds).toBeLessThan(10);
  });
});

describe("scenario 10: a request refused before any upstream appends nothing", () => {
  let gateway: TestApp;
  let endpoint: SharedEndpoint;
  let slow: LocalUpstream;

  beforeAll(async () => {
    endpoint = await startSharedEndpoint();
    slow = await startLocalUpstream("vllm", { latencyMs: 5_000 });
    // The built-in catalogue: qwen3-8b at $0.01 a request, on the stand-in shared endpoint.
    gateway = await startGateway({
      RUNPOD_API_URL: endpoint.url,
      MAX_CONCURRENT_REQUESTS_PER_ACCOUNT: "1",
    });
  });

  afterAll(async () => {
    await gateway?.close();
    await endpoint?.close();
    await slow?.close();
  });

  /** Events appended since `from`, other than the periodic key-usage flush. */
  async function appendedSince(from: bigint) {
    await gateway.app.get(UsageRecorder).flush();
    const store = gateway.app.get<EventStore>(EVENT_STORE);
    const events = await store.readAll({ from, maxCount: 10_000 });
    return events.filter((event) => !event.stream.startsWith("keyusage-"));
  }

  it("appends no event for validation errors, unknown models, serving limits, the concurrency cap or insufficient credit", async () => {
    const store = gateway.app.get<EventStore>(EVENT_STORE);
    const funded = await createTenant(gateway, "0.01");
    const poor = await createTenant(gateway);
    await registerExternal(gateway, funded, {
      name: "held",
      model: "Qwen/Qwen3-8B",
      base_url: slow.baseUrl,
    });
    const messages = [{ role: "user" as const, content: "hi" }];
    const head = await store.headPosition();
    const ledgerBefore = (await store.readStream(ledgerStream(funded.accountId))).length;

    const refusals: Array<[string, () => Promise<unknown>]> = [
      [
        "invalid temperature",
        () =>
          funded.client.chat.completions.create({ model: "qwen3-8b", messages, temperature: 7 }),
      ],
      ["unknown model", () => funded.client.chat.completions.create({ model: "nope", messages })],
      [
        "model too long",
        () => funded.client.chat.completions.create({ model: "m".repeat(300), messages }),
      ],
      [
        "n above the entry's bound",
        () => funded.client.chat.completions.create({ model: "qwen3-8b", messages, n: 2 }),
      ],
      ["unsupported extra", () =>
        funded.client.chat.completions.create({
          model: "qwen3-8b",
          messages,
          // @ts-expect-error a vLLM extra outside the allow-list
          use_beam_search: true,
        })],
      [
        "wrong model kind",
        () => funded.client.embeddings.create({ model: "qwen3-8b", input: "x" }),
      ],
      [
        "insufficient credit",
        () => poor.client.chat.completions.create({ model: "qwen3-8b", messages }),
      ],
    ];
    const statuses: Record<string, number> = {};
    for (const [name, call] of refusals) statuses[name] = await statusOf(call());

    // The concurrency cap: one call held open upstream, the next one refused before its reserve.
    const held = new AbortController();
    const holding = funded.client.chat.completions.create({ model: "held", messages }, {
      signal: held.signal,
    }).catch(() => undefined);
    await waitUntil(() => slow.requests.length === 1);
    statuses["concurrency cap"] = await statusOf(
      funded.client.chat.completions.create({ model: "qwen3-8b", messages }),
    );
    held.abort();
    await holding;
    // The held call ends as a client abort, recorded as such (it did reach its upstream).
    await waitUntil(async () =>
      (await appendedSince(head)).some((event) =>
        event.type === "InferenceFailed" && event.data.model === "held"
      )
    );

    const appended = await appendedSince(head);
    // The held call did reach its upstream and is recorded (InferenceFailed, client gone): only it.
    const refusedAppends = appended.filter((event) =>
      !(event.type === "InferenceFailed" && event.data.model === "held")
    );
    const ledgerAfter = (await store.readStream(ledgerStream(funded.accountId))).length;
    console.log(JSON.stringify({
      scenario: 10,
      refusedRequests: Object.keys(statuses).length,
      statuses,
      eventsAppendedByRefusals: refusedAppends.length,
      ledgerEventsAppended: ledgerAfter - ledgerBefore,
      sharedEndpointCalls: endpoint.requests.length,
    }));
    expect(statuses).toEqual({
      "invalid temperature": 400,
      "unknown model": 404,
      "model too long": 400,
      "n above the entry's bound": 400,
      "unsupported extra": 400,
      "wrong model kind": 400,
      "insufficient credit": 402,
      "concurrency cap": 429,
    });
    expect(refusedAppends.map((event) => `${event.stream} ${event.type}`)).toEqual([]);
    expect(ledgerAfter - ledgerBefore).toBe(0);
    expect(endpoint.requests.length).toBe(0);
  });

  it("never charges a shared endpoint that cannot be reached; at most the hold and its release are written", async () => {
    // Connection refused: RUNPOD_API_URL points at a port nothing listens on.
    const closed = await startSharedEndpoint();
    await closed.close();
    const unreachable = await startGateway({ RUNPOD_API_URL: closed.url });
    try {
      const store = unreachable.app.get<EventStore>(EVENT_STORE);
      const tenant = await createTenant(unreachable, "1");
      const before = (await store.readStream(ledgerStream(tenant.accountId))).length;
      const status = await statusOf(tenant.client.chat.completions.create({
        model: "qwen3-8b",
        messages: [{ role: "user", content: "hi" }],
      }));
      await unreachable.app.get(PendingSettlements).drain();
      const written = (await store.readStream(ledgerStream(tenant.accountId))).slice(before)
        .map((event) => event.type);
      console.log(JSON.stringify({
        scenario: 10,
        case: "shared endpoint refuses the connection",
        status,
        ledgerEventsAppended: written.length,
        types: written,
      }));
      expect(status).toBe(502);
      expect(await balanceUsd(unreachable, tenant.accountId)).toBe(1);
      // The hold must be durable before any upstream call, and fetch cannot tell a refused
      // connect apart before it is attempted: this pair is what remains (operator-set URL only).
      expect(written.length).toBeLessThanOrEqual(2);
      for (const type of written) {
        expect(["CreditsReserved", "ReservationReleased"]).toContain(type);
      }
    } finally {
      await unreachable.close();
    }
  });

  it("still holds the price durably before a paid upstream call, and charges it once served", async () => {
    const store = gateway.app.get<EventStore>(EVENT_STORE);
    const tenant = await createTenant(gateway, "1");
    await tenant.client.chat.completions.create({
      model: "qwen3-8b",
      messages: [{ role: "user", content: "hi" }],
    });
    await waitUntil(async () =>
      (await store.readStream(ledgerStream(tenant.accountId))).some((event) =>
        event.type === "CreditsCharged"
      )
    );
    const types = (await store.readStream(ledgerStream(tenant.accountId))).map((event) =>
      event.type
    );
    expect(types.indexOf("CreditsReserved")).toBeGreaterThanOrEqual(0);
    expect(types.indexOf("CreditsReserved")).toBeLessThan(types.indexOf("CreditsCharged"));
    expect(await balanceUsd(gateway, tenant.accountId)).toBeCloseTo(0.99, 6);
  });
});
