import type { IncomingMessage, ServerResponse } from "node:http";
import type { SimContext } from "./context.ts";
import { BadJson, readJson, sendJson, sendText, sleep, write } from "./http-util.ts";
import { addModel, createDigest, normaliseModelName, type PodStore, type SimPod } from "./pods.ts";
import {
  chatCompletion,
  countTokens,
  embeddingOf,
  embeddingToBase64,
  textCompletion,
} from "./text-gen.ts";

/**
 * The pod HTTP proxy (`https://{podId}-{port}.proxy.runpod.net`, here `/proxy/{podId}-{port}`)
 * and the Ollama server behind port 11434 of each pod (runpod-api.md 5, openai-compat.md 4).
 */

const OLLAMA_PORT = 11434;

function ollamaError(res: ServerResponse, status: number, message: string): void {
  sendJson(res, status, { error: message });
}

function openAiError(res: ServerResponse, status: number, message: string): void {
  const type = status === 400
    ? "invalid_request_error"
    : status === 404
    ? "not_found_error"
    : "api_error";
  sendJson(res, status, { error: { message, type, param: null, code: null } });
}

function badGateway(res: ServerResponse): void {
  // What RunPod's proxy answers when nothing listens on the port yet.
  res.writeHead(502, { "content-type": "text/html; charset=utf-8" });
  res.end("<html><body><h1>502 Bad Gateway</h1></body></html>");
}

export function createProxyHandler(ctx: SimContext, store: PodStore) {
  return async (
    req: IncomingMessage,
    res: ServerResponse,
    host: string,
    path: string,
  ): Promise<void> => {
    const match = /^([a-z0-9]+)-(\d+)$/i.exec(host);
    const pod = match ? store.get(match[1]) : undefined;
    if (!match || !pod) return sendText(res, 404, "404 page not found");
    const port = Number(match[2]);
    const exposed = pod.ports.includes(`${port}/http`);
    if (!exposed || port !== OLLAMA_PORT || !store.ollamaReady(pod)) return badGateway(res);
    pod.lastRequestAt = ctx.now();
    try {
      await handleOllama(ctx, pod, req, res, path);
    } catch (error) {
      if (error instanceof BadJson) return ollamaError(res, 400, error.message);
      throw error;
    }
  };
}

function findModel(pod: SimPod, model: unknown) {
  if (typeof model !== "string" || model === "") return undefined;
  const name = normaliseModelName(model);
  const entry = pod.models.get(name);
  return entry ? { name, ...entry } : undefined;
}

function modelDetails(name: string) {
  return {
    parent_model: "",
    format: "gguf",
    family: name.split(/[:.\d]/)[0] || "llama",
    families: [name.split(/[:.\d]/)[0] || "llama"],
    parameter_size: "3.2B",
    quantization_level: "Q4_K_M",
  };
}

async function handleOllama(
  ctx: SimContext,
  pod: SimPod,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
): Promise<void> {
  const method = req.method ?? "GET";
  const route = `${method} ${path === "" ? "/" : path}`;

  if (route === "GET /" || route === "HEAD /") {
    return sendText(res, 200, "Ollama is running", method === "HEAD");
  }
  if (route === "GET /api/version") return sendJson(res, 200, { version: ctx.knobs.ollamaVersion });
  if (route === "GET /api/tags") {
    return sendJson(res, 200, {
      models: [...pod.models].map(([name, m]) => ({
        name,
        model: name,
        modified_at: new Date(m.modifiedAt).toISOString(),
        size: m.size,
        digest: m.digest,
        details: modelDetails(name),
      })),
    });
  }
  if (route === "GET /api/ps") {
    const now = ctx.now();
    return sendJson(res, 200, {
      models: [...pod.loaded].filter((name) => pod.models.has(name)).map((name) => {
        const m = pod.models.get(name)!;
        return {
          name,
          model: name,
          size: m.size,
          digest: m.digest,
          details: modelDetails(name),
          expires_at: new Date(now + 5 * 60_000).toISOString(),
          size_vram: m.size,
        };
      }),
    });
  }
  if (route === "POST /api/pull") return pull(ctx, pod, await readJson(req), res);

  if (route === "GET /v1/models") {
    return sendJson(res, 200, {
      object: "list",
      data: [...pod.models].map(([name, m]) => ({
        id: name,
        object: "model",
        created: Math.floor(m.modifiedAt / 1000),
        owned_by: "library",
      })),
    });
  }
  if (method === "GET" && path.startsWith("/v1/models/")) {
    const wanted = decodeURIComponent(path.slice("/v1/models/".length));
    const model = findModel(pod, wanted);
    if (!model) return openAiError(res, 404, `model "${wanted}" not found`);
    return sendJson(res, 200, {
      id: model.name,
      object: "model",
      created: Math.floor(model.modifiedAt / 1000),
      owned_by: "library",
    });
  }
  if (
    route === "POST /v1/chat/completions" || route === "POST /v1/completions" ||
    route === "POST /v1/embeddings"
  ) {
    let body: any;
    try {
      body = await readJson(req);
    } catch (error) {
      if (error instanceof BadJson) return openAiError(res, 400, "invalid request");
      throw error;
    }
    if (typeof body.model !== "string" || body.model === "") {
      return openAiError(res, 400, "model is required");
    }
    const model = findModel(pod, body.model);
    if (!model) {
      return openAiError(res, 404, `model "${body.model}" not found, try pulling it first`);
    }
    // Warm-up (knobs.warmUpMs): the first requests after a start wait for the model to load.
    const warmIn = (pod.runningSince ?? ctx.now()) + ctx.knobs.ollamaReadyMs + ctx.knobs.warmUpMs -
      ctx.now();
    if (warmIn > 0) await new Promise((resolve) => setTimeout(resolve, warmIn));
    pod.loaded.add(model.name);
    const generation = {
      flavour: "ollama" as const,
      model: body.model,
      tokensPerSecond: ctx.knobs.tokensPerSecond,
      dieAfterTokens: ctx.knobs.ollamaDieAfterTokens,
    };
    if (path === "/v1/chat/completions") {
      if (!Array.isArray(body.messages) || body.messages.length === 0) {
        return openAiError(res, 400, "[] is too short - 'messages'");
      }
      return chatCompletion(res, body, generation);
    }
    if (path === "/v1/completions") {
      if (typeof body.prompt !== "string") return openAiError(res, 400, "invalid prompt");
      return textCompletion(res, body, generation);
    }
    const inputs = typeof body.input === "string"
      ? [body.input]
      : Array.isArray(body.input) && body.input.every((i: unknown) => typeof i === "string")
      ? body.input as string[]
      : undefined;
    if (!inputs) return openAiError(res, 400, "invalid input");
    const base64 = body.encoding_format === "base64";
    const tokens = inputs.reduce((s, t) => s + countTokens(t), 0);
    return sendJson(res, 200, {
      object: "list",
      data: inputs.map((text, index) => {
        const vector = embeddingOf(text, ctx.knobs.embeddingDimensions);
        return {
          object: "embedding",
          embedding: base64 ? embeddingToBase64(vector) : vector,
          index,
        };
      }),
      model: body.model,
      usage: { prompt_tokens: tokens, total_tokens: tokens },
    });
  }
  return sendText(res, 404, "404 page not found");
}

async function pull(ctx: SimContext, pod: SimPod, body: any, res: ServerResponse): Promise<void> {
  const model = body.model ?? body.name;
  if (typeof model !== "string" || model === "") return ollamaError(res, 400, "model is required");
  const stream = body.stream !== false;
  const fails = ctx.knobs.unknownModels.map(normaliseModelName).includes(normaliseModelName(model));
  const failure = "pull model manifest: file does not exist";
  const total = 2_019_393_189;
  const steps = 5;
  const stepMs = ctx.knobs.pullMs / (steps + 2);
  if (!stream) {
    await sleep(ctx.knobs.pullMs);
    if (fails) return ollamaError(res, 500, failure);
    addModel(pod, model, ctx.now());
    return sendJson(res, 200, { status: "success" });
  }
  res.writeHead(200, { "content-type": "application/x-ndjson" });
  const line = (value: unknown) => write(res, `${JSON.stringify(value)}\n`);
  line({ status: "pulling manifest" });
  await sleep(stepMs);
  if (fails) {
    // Errors after the stream started arrive as a final NDJSON line while the status stays 200.
    line({ error: failure });
    return void res.end();
  }
  const digest = `sha256:${createDigest(normaliseModelName(model))}`;
  for (let i = 0; i <= steps; i++) {
    if (res.destroyed) return;
    line({
      status: `pulling ${digest.slice(7, 19)}`,
      digest,
      total,
      completed: Math.round((total * i) / steps),
    });
    await sleep(stepMs);
  }
  line({ status: "verifying sha256 digest" });
  line({ status: "writing manifest" });
  addModel(pod, model, ctx.now());
  line({ status: "success" });
  res.end();
}
