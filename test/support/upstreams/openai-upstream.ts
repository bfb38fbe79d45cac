import { Buffer } from "node:buffer";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * Local OpenAI-compatible upstreams that behave like Ollama and like vLLM as described in
 * /work/shared/reference/openai-compat.md section 4 (errors, stream shapes, what each one
 * accepts and refuses). Deterministic: the reply to a chat is "Hello from <flavour>! You said:
 * <last user text>", one word per token, so tests can predict text and usage exactly.
 */
export type UpstreamFlavour = "ollama" | "vllm";

export interface RecordedUpstreamRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: any;
}

export interface UpstreamKnobs {
  /** Delay before the response starts (non-stream: before the body; stream: before the headers). */
  latencyMs: number;
  /** Delay between streamed tokens. */
  tokenDelayMs: number;
  /** Die after this many streamed content tokens: vLLM sends an error frame + [DONE], Ollama an empty chunk and EOF. */
  dieAfterTokens: number | null;
  /** Omit `usage` from responses (an upstream that reports none). */
  omitUsage: boolean;
  /** Served model names. */
  models: string[];
  /** Required bearer token (the upstream API key); undefined: none required. */
  apiKey?: string;
  /** The words of every reply; default derives from the request. */
  replyText?: string;
}

export interface FailureInjection {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** Close the socket without an answer instead. */
  destroy?: boolean;
}

export interface LocalUpstream {
  flavour: UpstreamFlavour;
  /** `http://127.0.0.1:<port>/v1` */
  baseUrl: string;
  knobs: UpstreamKnobs;
  requests: RecordedUpstreamRequest[];
  /** Streams whose client went away before the end (the gateway aborted them). */
  abortedStreams: number;
  /** Open streaming responses right now. */
  openStreams: number;
  /** The next `count` requests to a path containing `pattern` fail this way. */
  failNext(pattern: string, failure: FailureInjection, count?: number): void;
  close(): Promise<void>;
}

const DEFAULT_MODELS: Record<UpstreamFlavour, string[]> = {
  ollama: ["mistral:7b", "llama3.2:3b", "nomic-embed-text:latest"],
  vllm: ["Qwen/Qwen3-8B", "org/name:tag", "BAAI/bge-small-en"],
};

export async function startLocalUpstream(
  flavour: UpstreamFlavour,
  knobs: Partial<UpstreamKnobs> = {},
): Promise<LocalUpstream> {
  const state: UpstreamKnobs = {
    latencyMs: 0,
    tokenDelayMs: 0,
    dieAfterTokens: null,
    omitUsage: false,
    models: DEFAULT_MODELS[flavour],
    ...knobs,
  };
  const injections: Array<{ pattern: string; failure: FailureInjection; remaining: number }> = [];
  const upstream: LocalUpstream = {
    flavour,
    baseUrl: "",
    knobs: state,
    requests: [],
    abortedStreams: 0,
    openStreams: 0,
    failNext(pattern, failure, count = 1) {
      injections.push({ pattern, failure, remaining: count });
    },
    close: () => Promise.resolve(),
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? "/").split("?")[0];
    const raw = await readBody(req);
    let body: any = undefined;
    if (raw.length > 0) {
      try {
        body = JSON.parse(raw);
      } catch {
        return error(res, flavour, 400, "invalid JSON body", null);
      }
    }
    upstream.requests.push({ method: req.method ?? "GET", path, headers: req.headers, body });
    if (upstream.requests.length > 5_000) upstream.requests.splice(0, 2_500);
    const injection = injections.find((entry) =>
      entry.remaining > 0 && path.includes(entry.pattern)
    );
    if (injection) {
      injection.remaining--;
      if (injection.remaining === 0) injections.splice(injections.indexOf(injection), 1);
      if (injection.failure.destroy) return void req.socket.destroy();
      res.writeHead(injection.failure.status, {
        "content-type": "application/json",
        ...injection.failure.headers,
      });
      return void res.end(JSON.stringify(injection.failure.body ?? { error: "injected" }));
    }
    if (state.apiKey && req.headers.authorization !== `Bearer ${state.apiKey}`) {
      return error(res, flavour, 401, "invalid api key", null);
    }
    if (state.latencyMs > 0) await sleep(state.latencyMs);
    if (req.method === "GET" && path === "/v1/models") return models(res, flavour, state);
    if (req.method !== "POST") {
      return error(res, flavour, 404, `route ${path} not found`, null, "not_found_error");
    }
    if (!body || typeof body !== "object" || Array.isArray(body)) {
      return error(res, flavour, 400, "request body must be an object", null);
    }
    if (!state.models.includes(body.model)) {
      return flavour === "vllm"
        ? error(
          res,
          flavour,
          404,
          `The model \`${body.model}\` does not exist.`,
          "model",
          "NotFoundError",
        )
        : error(
          res,
          flavour,
          404,
          `model "${body.model}" not found, try pulling it first`,
          null,
          "not_found_error",
        );
    }
    if (flavour === "vllm" && body.stream_options != null && !body.stream) {
      return error(
        res,
        flavour,
        400,
        "Stream options can only be defined when `stream=True`.",
        "stream_options",
      );
    }
    switch (path) {
      case "/v1/chat/completions":
        return chat(req, res, body, flavour, state, upstream);
      case "/v1/completions":
        return completions(req, res, body, flavour, state, upstream);
      case "/v1/embeddings":
        return embeddings(res, body, flavour);
      default:
        return error(res, flavour, 404, `route ${path} not found`, null, "not_found_error");
    }
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((cause) => {
      if (!res.headersSent) {
        error(res, flavour, 500, `upstream bug: ${(cause as Error).message}`, null);
      } else res.destroy();
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  upstream.baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  upstream.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return upstream;
}

function models(res: ServerResponse, flavour: UpstreamFlavour, state: UpstreamKnobs) {
  const created = 1_700_000_000;
  const data = state.models.map((id) =>
    flavour === "vllm"
      ? {
        id,
        object: "model",
        created,
        owned_by: "vllm",
        root: id,
        parent: null,
        max_model_len: 32768,
        permission: [],
      }
      : { id, object: "model", created, owned_by: id.includes("/") ? id.split("/")[0] : "library" }
  );
  json(res, 200, { object: "list", data });
}

function lastUserText(messages: any[]): string {
  for (let i = messages.length - 1; i >= 0; i--) {
    const content = messages[i]?.content;
    if (messages[i]?.role !== "user") continue;
    if (typeof content === "string") return content;
    if (Array.isArray(content)) return content.map((part: any) => part?.text ?? "").join(" ");
  }
  return "";
}

export function countWords(text: string): number {
  return text.split(/\s+/).filter(Boolean).length;
}

function promptTokens(messages: any[]): number {
  let total = 0;
  for (const message of messages) {
    const content = message?.content;
    if (typeof content === "string") total += countWords(content);
    else if (Array.isArray(content)) {
      for (const part of content) total += countWords(String(part?.text ?? ""));
    }
  }
  return total;
}

/** The words an upstream will generate for this request, and why it stops. */
function generation(body: any, flavour: UpstreamFlavour, state: UpstreamKnobs, text: string) {
  const words = (state.replyText ?? `Hello from ${flavour}! You said: ${text}`).split(/\s+/).filter(
    Boolean,
  );
  // Ollama has no max_completion_tokens (it is dropped); vLLM honours both.
  const limit = flavour === "ollama"
    ? body.max_tokens
    : body.max_completion_tokens ?? body.max_tokens;
  if (typeof limit === "number" && limit < words.length) {
    return {
      tokens: words.slice(0, limit).map((word, i) => (i === 0 ? word : ` ${word}`)),
      finish: "length",
    };
  }
  return { tokens: words.map((word, i) => (i === 0 ? word : ` ${word}`)), finish: "stop" };
}

async function chat(
  req: IncomingMessage,
  res: ServerResponse,
  body: any,
  flavour: UpstreamFlavour,
  state: UpstreamKnobs,
  upstream: LocalUpstream,
) {
  if (!Array.isArray(body.messages) || body.messages.length === 0) {
    return error(res, flavour, 400, "messages must be a non-empty list", "messages");
  }
  if (flavour === "vllm") {
    if (Array.isArray(body.tools) && body.tools.length === 0) {
      return error(res, flavour, 400, "tools must not be an empty list", "tools");
    }
    if (body.tool_choice != null && body.tools == null) {
      return error(
        res,
        flavour,
        400,
        "When using `tool_choice`, `tools` must be set.",
        "tool_choice",
      );
    }
  }
  const id = `chatcmpl-${flavour}-${Math.random().toString(36).slice(2, 10)}`;
  const created = Math.floor(Date.now() / 1000);
  const model = body.model;
  const prompt = promptTokens(body.messages);
  const fingerprint = flavour === "ollama" ? { system_fingerprint: "fp_ollama" } : {};
  const tool = Array.isArray(body.tools) && body.tools.length > 0
    ? body.tools[0]?.function?.name
    : undefined;
  // Ollama has no `n`: always one choice. vLLM generates n.
  const n = flavour === "vllm" && typeof body.n === "number" ? body.n : 1;
  const { tokens, finish } = generation(body, flavour, state, lastUserText(body.messages));
  const argumentPieces = ['{"city":', ' "Paris"', "}"];
  const completionTokens = tool ? argumentPieces.length : tokens.length;
  const usage = {
    prompt_tokens: prompt,
    completion_tokens: completionTokens * n,
    total_tokens: prompt + completionTokens * n,
  };

  if (!body.stream) {
    const choices = Array.from({ length: n }, (_, index) => ({
      index,
      message: tool
        ? {
          role: "assistant",
          content: null,
          tool_calls: [{
            id: `call_${index}`,
            type: "function",
            function: { name: tool, arguments: argumentPieces.join("") },
          }],
        }
        : { role: "assistant", content: tokens.join("") },
      logprobs: null,
      finish_reason: tool ? "tool_calls" : finish,
      ...(flavour === "vllm" ? { stop_reason: null } : {}),
    }));
    return json(res, 200, {
      id,
      object: "chat.completion",
      created,
      model,
      ...fingerprint,
      choices,
      ...(state.omitUsage ? {} : { usage }),
    });
  }

  const includeUsage = body.stream_options?.include_usage === true && !state.omitUsage;
  const stream = openStream(req, res, upstream);
  const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) =>
    stream.send({
      id,
      object: "chat.completion.chunk",
      created,
      model,
      ...fingerprint,
      choices,
      ...extra,
    });
  for (let index = 0; index < n; index++) {
    if (flavour === "vllm") {
      chunk([{
        index,
        delta: { role: "assistant", content: "" },
        logprobs: null,
        finish_reason: null,
      }]);
    }
  }
  let sent = 0;
  const pieces = tool ? argumentPieces : tokens;
  for (let i = 0; i < pieces.length; i++) {
    if (stream.closed) return;
    if (state.dieAfterTokens !== null && sent >= state.dieAfterTokens) {
      if (flavour === "vllm") {
        stream.send({
          error: {
            message: "CUDA out of memory while generating",
            type: "InternalServerError",
            param: null,
            code: 500,
          },
        });
        stream.raw("data: [DONE]\n\n");
      } else {
        chunk([{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }]);
      }
      return stream.end();
    }
    for (let index = 0; index < n; index++) {
      const first = i === 0 && flavour === "ollama" ? { role: "assistant" } : {};
      const delta = tool
        ? {
          ...first,
          tool_calls: [
            i === 0
              ? {
                index: 0,
                id: `call_${index}`,
                type: "function",
                function: { name: tool, arguments: pieces[i] },
              }
              : { index: 0, function: { arguments: pieces[i] } },
          ],
        }
        : { ...first, content: pieces[i] };
      chunk([{ index, delta, logprobs: null, finish_reason: null }]);
    }
    sent++;
    if (state.tokenDelayMs > 0) await sleep(state.tokenDelayMs);
  }
  for (let index = 0; index < n; index++) {
    chunk([{
      index,
      delta: {},
      logprobs: null,
      finish_reason: tool ? "tool_calls" : finish,
      ...(flavour === "vllm" ? { stop_reason: null } : {}),
    }]);
  }
  if (includeUsage) chunk([], { usage });
  stream.raw("data: [DONE]\n\n");
  stream.end();
}

async function completions(
  req: IncomingMessage,
  res: ServerResponse,
  body: any,
  flavour: UpstreamFlavour,
  state: UpstreamKnobs,
  upstream: LocalUpstream,
) {
  if (flavour === "ollama" && typeof body.prompt !== "string") {
    return error(res, flavour, 400, "invalid input: prompt must be a string", "prompt");
  }
  if (typeof body.prompt !== "string" && !Array.isArray(body.prompt)) {
    return error(res, flavour, 400, "prompt is required", "prompt");
  }
  const promptText = Array.isArray(body.prompt) ? body.prompt.join(" ") : body.prompt;
  const { tokens, finish } = generation(body, flavour, state, promptText);
  const id = `cmpl-${flavour}-${Math.random().toString(36).slice(2, 10)}`;
  const created = Math.floor(Date.now() / 1000);
  const prompt = countWords(String(promptText));
  const usage = {
    prompt_tokens: prompt,
    completion_tokens: tokens.length,
    total_tokens: prompt + tokens.length,
  };
  if (!body.stream) {
    return json(res, 200, {
      id,
      object: "text_completion",
      created,
      model: body.model,
      choices: [{ text: tokens.join(""), index: 0, logprobs: null, finish_reason: finish }],
      ...(state.omitUsage ? {} : { usage }),
    });
  }
  const stream = openStream(req, res, upstream);
  for (const token of tokens) {
    if (stream.closed) return;
    stream.send({
      id,
      object: "text_completion",
      created,
      model: body.model,
      choices: [{ text: token, index: 0, logprobs: null, finish_reason: null }],
    });
    if (state.tokenDelayMs > 0) await sleep(state.tokenDelayMs);
  }
  stream.send({
    id,
    object: "text_completion",
    created,
    model: body.model,
    choices: [{ text: "", index: 0, logprobs: null, finish_reason: finish }],
  });
  if (body.stream_options?.include_usage && !state.omitUsage) {
    stream.send({ id, object: "text_completion", created, model: body.model, choices: [], usage });
  }
  stream.raw("data: [DONE]\n\n");
  stream.end();
}

/** A deterministic unit-ish vector per input string. */
export function embeddingFor(text: string, dimensions = 8): number[] {
  const vector: number[] = [];
  for (let i = 0; i < dimensions; i++) {
    let hash = 2166136261 ^ i;
    for (let c = 0; c < text.length; c++) hash = Math.imul(hash ^ text.charCodeAt(c), 16777619);
    // Exactly representable in float32, so float and base64 encodings compare equal.
    vector.push(Math.fround(((hash >>> 0) % 2000) / 1000 - 1));
  }
  return vector;
}

function embeddings(res: ServerResponse, body: any, flavour: UpstreamFlavour) {
  const input = body.input;
  let items: string[];
  if (typeof input === "string") items = [input];
  else if (Array.isArray(input) && input.every((item) => typeof item === "string")) items = input;
  else if (
    flavour === "vllm" && Array.isArray(input) &&
    (input.every((item) => typeof item === "number") || input.every((item) => Array.isArray(item)))
  ) {
    items = ((typeof input[0] === "number" ? [input] : input) as number[][]).map((tokens) =>
      tokens.join(",")
    );
  } else return error(res, flavour, 400, "invalid input", "input");
  const data = items.map((text, index) => {
    const vector = embeddingFor(text);
    const embedding = body.encoding_format === "base64"
      ? Buffer.from(new Float32Array(vector).buffer).toString("base64")
      : vector;
    return { object: "embedding", index, embedding };
  });
  const tokens = items.reduce((sum, text) => sum + countWords(text.replace(/,/g, " ")), 0);
  json(res, 200, {
    object: "list",
    model: body.model,
    data,
    usage: { prompt_tokens: tokens, total_tokens: tokens },
  });
}

function openStream(req: IncomingMessage, res: ServerResponse, upstream: LocalUpstream) {
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
  upstream.openStreams++;
  let finished = false;
  const state = { closed: false };
  res.on("close", () => {
    upstream.openStreams--;
    state.closed = true;
    if (!finished) upstream.abortedStreams++;
  });
  return {
    get closed() {
      return state.closed;
    },
    send(payload: unknown) {
      if (!state.closed) res.write(`data: ${JSON.stringify(payload)}\n\n`);
    },
    raw(text: string) {
      if (!state.closed) res.write(text);
    },
    end() {
      finished = true;
      res.end();
    },
  };
}

function error(
  res: ServerResponse,
  flavour: UpstreamFlavour,
  status: number,
  message: string,
  param: string | null,
  type?: string,
) {
  if (flavour === "vllm") {
    const vllmType = type ??
      (status === 400
        ? "BadRequestError"
        : status === 404
        ? "NotFoundError"
        : "InternalServerError");
    return json(res, status, { error: { message, type: vllmType, param, code: status } });
  }
  const ollamaType = type ?? (status >= 500 ? "api_error" : "invalid_request_error");
  return json(res, status, { error: { message, type: ollamaType, param: null, code: null } });
}

function json(res: ServerResponse, status: number, body: unknown) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
