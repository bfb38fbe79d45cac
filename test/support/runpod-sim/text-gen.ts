import { Buffer } from "node:buffer";
import { createHash, randomBytes } from "node:crypto";
import type { ServerResponse } from "node:http";
import { sleep, write } from "./http-util.ts";

/**
 * Deterministic "model" output shared by the simulated Ollama (pods) and vLLM (serverless
 * OpenAI route). The reply echoes the prompt: `Echo: <last words of the last user message>`,
 * one word per token. Shapes follow openai-compat.md section 4 for each flavour.
 */

export type Flavour = "ollama" | "vllm";

export function messageText(content: unknown): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    return content.map((part) => typeof part?.text === "string" ? part.text : "").join(" ");
  }
  return "";
}

export function countTokens(text: string): number {
  return text.split(/\s+/).filter(Boolean).length;
}

export function promptTokensOfMessages(messages: any[]): number {
  return messages.reduce((sum, m) => sum + countTokens(messageText(m?.content)) + 3, 0);
}

export function lastUserText(messages: any[]): string {
  for (let i = messages.length - 1; i >= 0; i--) {
    if (messages[i]?.role === "user") return messageText(messages[i].content);
  }
  return "";
}

export interface Reply {
  tokens: string[];
  finishReason: "stop" | "length";
}

export function replyFor(prompt: string, maxTokens?: number | null): Reply {
  const words = prompt.split(/\s+/).filter(Boolean).slice(-12);
  const natural = ["Echo:", ...words].map((w, i) => (i === 0 ? w : ` ${w}`));
  if (typeof maxTokens === "number" && maxTokens >= 0 && maxTokens < natural.length) {
    return { tokens: natural.slice(0, maxTokens), finishReason: "length" };
  }
  return { tokens: natural, finishReason: "stop" };
}

export interface ToolCall {
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

/** When tools are offered (and the last message is not a tool result) the model calls the first. */
export function toolCallFor(body: any, prompt: string): ToolCall | undefined {
  const tools = Array.isArray(body.tools) ? body.tools : [];
  const messages = Array.isArray(body.messages) ? body.messages : [];
  if (tools.length === 0 || body.tool_choice === "none") return undefined;
  if (messages.at(-1)?.role === "tool") return undefined;
  const fn = tools[0]?.function ?? {};
  const properties = fn.parameters?.properties ?? {};
  const args: Record<string, unknown> = {};
  for (const [key, schema] of Object.entries<any>(properties)) {
    if (schema?.type === "number" || schema?.type === "integer") args[key] = 1;
    else if (schema?.type === "boolean") args[key] = true;
    else args[key] = prompt.split(/\s+/).filter(Boolean).at(-1) ?? "";
  }
  return {
    id: `call_${randomBytes(6).toString("hex")}`,
    type: "function",
    function: { name: String(fn.name ?? "tool"), arguments: JSON.stringify(args) },
  };
}

export function completionId(prefix: string, flavour: Flavour): string {
  return flavour === "ollama"
    ? `${prefix}-${Math.floor(Math.random() * 1000)}`
    : `${prefix}-${randomBytes(16).toString("hex")}`;
}

export interface GenerationOptions {
  flavour: Flavour;
  model: string;
  tokensPerSecond: number;
  /** Ollama only: die after this many content tokens. */
  dieAfterTokens?: number | null;
}

function tokenDelay(tokensPerSecond: number): number {
  return tokensPerSecond > 0 ? 1000 / tokensPerSecond : 0;
}

async function pace(count: number, tokensPerSecond: number): Promise<void> {
  const ms = count * tokenDelay(tokensPerSecond);
  if (ms >= 1) await sleep(ms);
}

function maxTokensOf(body: any, flavour: Flavour): number | undefined {
  // Ollama drops max_completion_tokens; vLLM honours both.
  if (typeof body.max_tokens === "number") return body.max_tokens;
  if (flavour === "vllm" && typeof body.max_completion_tokens === "number") {
    return body.max_completion_tokens;
  }
  return undefined;
}

/** POST /v1/chat/completions once the model is known to exist. */
export async function chatCompletion(
  res: ServerResponse,
  body: any,
  options: GenerationOptions,
): Promise<void> {
  const { flavour, model } = options;
  const messages: any[] = Array.isArray(body.messages) ? body.messages : [];
  const prompt = lastUserText(messages);
  const promptTokens = promptTokensOfMessages(messages);
  const toolCall = toolCallFor(body, prompt);
  const reply = replyFor(prompt, maxTokensOf(body, flavour));
  const id = completionId("chatcmpl", flavour);
  const created = Math.floor(Date.now() / 1000);
  const fingerprint = flavour === "ollama" ? { system_fingerprint: "fp_ollama" } : {};
  const completionTokens = toolCall
    ? countTokens(toolCall.function.arguments)
    : reply.tokens.length;
  const usage = {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
  };
  const finishReason = toolCall ? "tool_calls" : reply.finishReason;

  if (!body.stream) {
    await pace(completionTokens, options.tokensPerSecond);
    const message: Record<string, unknown> = {
      role: "assistant",
      content: toolCall ? "" : reply.tokens.join(""),
    };
    if (toolCall) message.tool_calls = [toolCall];
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({
      id,
      object: "chat.completion",
      created,
      model,
      ...fingerprint,
      choices: [{ index: 0, message, logprobs: null, finish_reason: finishReason }],
      usage,
    }));
    return;
  }

  res.writeHead(200, {
    "content-type": "text/event-stream",
    "cache-control": "no-cache",
    connection: "keep-alive",
  });
  const chunk = (delta: Record<string, unknown>, finish: string | null, extra = {}) =>
    `data: ${
      JSON.stringify({
        id,
        object: "chat.completion.chunk",
        created,
        model,
        ...fingerprint,
        choices: [{ index: 0, delta, finish_reason: finish }],
        ...extra,
      })
    }\n\n`;

  if (flavour === "vllm") write(res, chunk({ role: "assistant", content: "" }, null));
  if (toolCall) {
    await pace(completionTokens, options.tokensPerSecond);
    if (flavour === "ollama") {
      write(
        res,
        chunk({ role: "assistant", content: "", tool_calls: [{ index: 0, ...toolCall }] }, null),
      );
    } else {
      write(
        res,
        chunk({
          tool_calls: [{
            index: 0,
            id: toolCall.id,
            type: "function",
            function: { name: toolCall.function.name, arguments: "" },
          }],
        }, null),
      );
      write(
        res,
        chunk(
          { tool_calls: [{ index: 0, function: { arguments: toolCall.function.arguments } }] },
          null,
        ),
      );
    }
  } else {
    let sent = 0;
    for (const token of reply.tokens) {
      if (options.dieAfterTokens != null && sent >= options.dieAfterTokens) {
        // Ollama feeds its native {"error"} through the chunk converter: one empty chunk, then EOF.
        write(res, chunk({ role: "assistant", content: "" }, null));
        res.end();
        return;
      }
      await pace(1, options.tokensPerSecond);
      if (res.destroyed) return;
      write(
        res,
        chunk(
          flavour === "ollama" ? { role: "assistant", content: token } : { content: token },
          null,
        ),
      );
      sent++;
    }
  }
  write(
    res,
    chunk(
      flavour === "ollama" ? { role: "assistant", content: "" } : { content: "" },
      finishReason,
    ),
  );
  if (body.stream_options?.include_usage) {
    write(
      res,
      `data: ${
        JSON.stringify({
          id,
          object: "chat.completion.chunk",
          created,
          model,
          ...fingerprint,
          choices: [],
          usage,
        })
      }\n\n`,
    );
  }
  write(res, "data: [DONE]\n\n");
  res.end();
}

/** POST /v1/completions (legacy). */
export async function textCompletion(
  res: ServerResponse,
  body: any,
  options: GenerationOptions,
): Promise<void> {
  const { flavour, model } = options;
  const prompt = Array.isArray(body.prompt) ? String(body.prompt[0] ?? "") : String(body.prompt);
  const reply = replyFor(prompt, maxTokensOf(body, flavour));
  const id = completionId("cmpl", flavour);
  const created = Math.floor(Date.now() / 1000);
  const fingerprint = flavour === "ollama" ? { system_fingerprint: "fp_ollama" } : {};
  const promptTokens = countTokens(prompt);
  const usage = {
    prompt_tokens: promptTokens,
    completion_tokens: reply.tokens.length,
    total_tokens: promptTokens + reply.tokens.length,
  };
  const base = { id, object: "text_completion", created, model, ...fingerprint };
  if (!body.stream) {
    await pace(reply.tokens.length, options.tokensPerSecond);
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({
      ...base,
      choices: [{
        text: reply.tokens.join(""),
        index: 0,
        logprobs: null,
        finish_reason: reply.finishReason,
      }],
      usage,
    }));
    return;
  }
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
  let sent = 0;
  for (const token of reply.tokens) {
    if (options.dieAfterTokens != null && sent >= options.dieAfterTokens) {
      write(
        res,
        `data: ${
          JSON.stringify({ ...base, choices: [{ text: "", index: 0, finish_reason: null }] })
        }\n\n`,
      );
      res.end();
      return;
    }
    await pace(1, options.tokensPerSecond);
    if (res.destroyed) return;
    write(
      res,
      `data: ${
        JSON.stringify({ ...base, choices: [{ text: token, index: 0, finish_reason: null }] })
      }\n\n`,
    );
    sent++;
  }
  write(
    res,
    `data: ${
      JSON.stringify({
        ...base,
        choices: [{ text: "", index: 0, finish_reason: reply.finishReason }],
      })
    }\n\n`,
  );
  if (body.stream_options?.include_usage) {
    write(res, `data: ${JSON.stringify({ ...base, choices: [], usage })}\n\n`);
  }
  write(res, "data: [DONE]\n\n");
  res.end();
}

/** A deterministic unit vector derived from the text. */
export function embeddingOf(text: string, dimensions: number): number[] {
  const values: number[] = [];
  let block = createHash("sha256").update(text).digest();
  while (values.length < dimensions) {
    for (let i = 0; i + 1 < block.length && values.length < dimensions; i += 2) {
      values.push((block.readUInt16BE(i) / 65535) * 2 - 1);
    }
    block = createHash("sha256").update(block).digest();
  }
  const norm = Math.sqrt(values.reduce((s, v) => s + v * v, 0)) || 1;
  return values.map((v) => Math.fround(v / norm));
}

/** Little-endian float32, base64: the OpenAI `encoding_format:"base64"` wire form. */
export function embeddingToBase64(vector: number[]): string {
  const buf = Buffer.alloc(vector.length * 4);
  vector.forEach((v, i) => buf.writeFloatLE(v, i * 4));
  return buf.toString("base64");
}
