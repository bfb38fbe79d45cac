import { randomBase62 } from "../common/ids.ts";
import type { OpenAiErrorBody } from "../common/api-error.ts";
import { type Body, clip } from "../common/body-fields.ts";
import { ApiError } from "../common/api-error.ts";

/**
 * `/responses` on top of any chat-completions upstream (vLLM and Ollama differ widely in their
 * own Responses support, openai-compat.md 4): the request becomes a chat request, the answer a
 * Response object, and a chat stream becomes the Responses event sequence.
 */
export function responsesToChatBody(body: Body): Body {
  const messages: Body[] = [];
  if (typeof body.instructions === "string" && body.instructions) {
    messages.push({ role: "system", content: body.instructions });
  }
  if (typeof body.input === "string") messages.push({ role: "user", content: body.input });
  else {
    (body.input as unknown[]).forEach((item, index) =>
      messages.push(inputItemToMessage(item, index))
    );
  }
  const chat: Body = { model: body.model, messages };
  if (body.max_output_tokens !== undefined && body.max_output_tokens !== null) {
    chat.max_tokens = body.max_output_tokens;
  }
  for (
    const field of [
      "temperature",
      "top_p",
      "parallel_tool_calls",
      "user",
      "seed",
      "top_k",
      "min_p",
      "repetition_penalty",
    ]
  ) {
    if (body[field] !== undefined && body[field] !== null) chat[field] = body[field];
  }
  if (Array.isArray(body.tools) && body.tools.length > 0) {
    chat.tools = body.tools.filter((tool: any) => tool?.type === "function").map((tool: any) => ({
      type: "function",
      function: {
        name: tool.name,
        description: tool.description,
        parameters: tool.parameters,
        strict: tool.strict,
      },
    }));
    if (typeof body.tool_choice === "string") chat.tool_choice = body.tool_choice;
    else if ((body.tool_choice as any)?.type === "function") {
      chat.tool_choice = { type: "function", function: { name: (body.tool_choice as any).name } };
    }
  }
  const format = (body.text as any)?.format;
  if (format?.type === "json_object") chat.response_format = { type: "json_object" };
  if (format?.type === "json_schema") {
    chat.response_format = {
      type: "json_schema",
      json_schema: { name: format.name, schema: format.schema, strict: format.strict },
    };
  }
  return chat;
}

function inputItemToMessage(item: unknown, index: number): Body {
  const param = `input[${index}]`;
  if (!item || typeof item !== "object") {
    throw ApiError.badRequest(`Invalid '${param}': expected an object.`, param, "invalid_type");
  }
  const entry = item as Body;
  if (entry.type === "function_call_output") {
    return {
      role: "tool",
      tool_call_id: entry.call_id,
      content: typeof entry.output === "string" ? entry.output : JSON.stringify(entry.output),
    };
  }
  if (entry.type === "function_call") {
    return {
      role: "assistant",
      content: null,
      tool_calls: [{
        id: entry.call_id,
        type: "function",
        function: { name: entry.name, arguments: entry.arguments },
      }],
    };
  }
  const role = entry.role;
  if (role !== "user" && role !== "assistant" && role !== "system" && role !== "developer") {
    throw ApiError.badRequest(
      `Invalid '${param}.role': expected user, assistant, system or developer.`,
      `${param}.role`,
    );
  }
  const content = entry.content;
  if (typeof content === "string") return { role, content };
  if (!Array.isArray(content)) {
    throw ApiError.badRequest(`Invalid '${param}.content'.`, `${param}.content`, "invalid_type");
  }
  const parts = content.map((part: any) => {
    if (part?.type === "input_text" || part?.type === "output_text" || part?.type === "text") {
      return { type: "text", text: part.text };
    }
    if (part?.type === "input_image") {
      return { type: "image_url", image_url: { url: part.image_url } };
    }
    throw ApiError.badRequest(
      `Unsupported content part type '${clip(part?.type)}'.`,
      `${param}.content`,
      "unsupported_value",
    );
  });
  const textOnly = parts.every((part: any) => part.type === "text");
  return { role, content: textOnly ? parts.map((part: any) => part.text).join("") : parts };
}

export interface ResponseUsage {
  input_tokens: number;
  output_tokens: number;
  total_tokens: number;
}

/** The Response object around the output items. */
export function responseObject(
  request: Body,
  id: string,
  createdAt: number,
  model: string,
  status: "in_progress" | "completed" | "incomplete" | "failed",
  output: unknown[],
  usage: ResponseUsage | null,
  error: OpenAiErrorBody | null = null,
): Record<string, unknown> {
  return {
    id,
    object: "response",
    created_at: createdAt,
    status,
    error: error ? { code: error.code ?? "server_error", message: error.message } : null,
    incomplete_details: status === "incomplete" ? { reason: "max_output_tokens" } : null,
    instructions: request.instructions ?? null,
    max_output_tokens: request.max_output_tokens ?? null,
    model,
    output,
    parallel_tool_calls: request.parallel_tool_calls ?? true,
    previous_response_id: null,
    reasoning: { effort: null, summary: null },
    store: false,
    temperature: request.temperature ?? 1,
    text: request.text ?? { format: { type: "text" } },
    tool_choice: request.tool_choice ?? "auto",
    tools: request.tools ?? [],
    top_p: request.top_p ?? 1,
    truncation: "disabled",
    usage: usage
      ? {
        input_tokens: usage.input_tokens,
        input_tokens_details: { cached_tokens: 0 },
        output_tokens: usage.output_tokens,
        output_tokens_details: { reasoning_tokens: 0 },
        total_tokens: usage.total_tokens,
      }
      : null,
    user: request.user ?? null,
    metadata: request.metadata ?? {},
  };
}

export function newResponseId(): string {
  return `resp_${randomBase62(24)}`;
}

/** Output items of a non-streamed chat completion. */
export function chatCompletionToOutput(completion: any): unknown[] {
  const message = completion?.choices?.[0]?.message ?? {};
  const output: unknown[] = [];
  if (typeof message.content === "string" && message.content.length > 0) {
    output.push({
      type: "message",
      id: `msg_${randomBase62(24)}`,
      status: "completed",
      role: "assistant",
      content: [{ type: "output_text", text: message.content, annotations: [] }],
    });
  }
  for (const call of Array.isArray(message.tool_calls) ? message.tool_calls : []) {
    output.push({
      type: "function_call",
      id: `fc_${randomBase62(24)}`,
      call_id: call.id,
      name: call.function?.name,
      arguments: call.function?.arguments ?? "",
      status: "completed",
    });
  }
  return output;
}

/**
 * Chat chunks in, Responses SSE frames out (`event: <type>` + matching `data.type`, increasing
 * sequence_number, response.created → … → response.completed).
 */
export class ResponsesStreamWriter {
  private sequence = 0;
  private readonly messageId = `msg_${randomBase62(24)}`;
  private text = "";
  private messageOpen = false;
  private messageIndex = 0;
  private readonly calls = new Map<
    number,
    { id: string; callId: string; name: string; arguments: string; outputIndex: number }
  >();
  private outputCount = 0;

  constructor(
    private readonly request: Body,
    private readonly id: string,
    private readonly createdAt: number,
    private readonly model: string,
  ) {}

  start(): string {
    const response = responseObject(
      this.request,
      this.id,
      this.createdAt,
      this.model,
      "in_progress",
      [],
      null,
    );
    return this.event("response.created", { response }) +
      this.event("response.in_progress", { response });
  }

  chunk(chunk: any): string {
    let out = "";
    for (const choice of chunk.choices ?? []) {
      if (choice.index !== 0) continue;
      const delta = choice.delta ?? {};
      if (typeof delta.content === "string" && delta.content.length > 0) {
        if (!this.messageOpen) out += this.openMessage();
        this.text += delta.content;
        out += this.event("response.output_text.delta", {
          item_id: this.messageId,
          output_index: this.messageIndex,
          content_index: 0,
          delta: delta.content,
          logprobs: [],
        });
      }
      for (const call of Array.isArray(delta.tool_calls) ? delta.tool_calls : []) {
        const index = Number.isInteger(call.index) ? call.index : 0;
        let entry = this.calls.get(index);
        if (!entry) {
          entry = {
            id: `fc_${randomBase62(24)}`,
            callId: call.id ?? `call_${randomBase62(12)}`,
            name: call.function?.name ?? "",
            arguments: "",
            outputIndex: this.outputCount++,
          };
          this.calls.set(index, entry);
          out += this.event("response.output_item.added", {
            output_index: entry.outputIndex,
            item: {
              type: "function_call",
              id: entry.id,
              call_id: entry.callId,
              name: entry.name,
              arguments: "",
              status: "in_progress",
            },
          });
        }
        const piece = call.function?.arguments ?? "";
        if (piece) {
          entry.arguments += piece;
          out += this.event("response.function_call_arguments.delta", {
            item_id: entry.id,
            output_index: entry.outputIndex,
            delta: piece,
          });
        }
      }
    }
    return out;
  }

  complete(usage: ResponseUsage, finishReason: string | null): string {
    let out = "";
    const output: unknown[] = [];
    if (this.messageOpen) {
      const part = { type: "output_text", text: this.text, annotations: [] };
      const item = {
        type: "message",
        id: this.messageId,
        status: "completed",
        role: "assistant",
        content: [part],
      };
      const at = this.messageIndex;
      out += this.event("response.output_text.done", {
        item_id: this.messageId,
        output_index: at,
        content_index: 0,
        text: this.text,
        logprobs: [],
      });
      out += this.event("response.content_part.done", {
        item_id: this.messageId,
        output_index: at,
        content_index: 0,
        part,
      });
      out += this.event("response.output_item.done", { output_index: at, item });
      output.push(item);
    }
    for (const entry of this.calls.values()) {
      const item = {
        type: "function_call",
        id: entry.id,
        call_id: entry.callId,
        name: entry.name,
        arguments: entry.arguments,
        status: "completed",
      };
      out += this.event("response.function_call_arguments.done", {
        item_id: entry.id,
        output_index: entry.outputIndex,
        arguments: entry.arguments,
      });
      out += this.event("response.output_item.done", { output_index: entry.outputIndex, item });
      output.push(item);
    }
    const status = finishReason === "length" ? "incomplete" : "completed";
    const response = responseObject(
      this.request,
      this.id,
      this.createdAt,
      this.model,
      status,
      output,
      usage,
    );
    return out +
      this.event(status === "completed" ? "response.completed" : "response.incomplete", {
        response,
      });
  }

  error(error: OpenAiErrorBody): string {
    return this.event("error", { code: error.code, message: error.message, param: error.param });
  }

  private openMessage(): string {
    this.messageOpen = true;
    const outputIndex = this.outputCount++;
    this.messageIndex = outputIndex;
    return this.event("response.output_item.added", {
      output_index: outputIndex,
      item: {
        type: "message",
        id: this.messageId,
        status: "in_progress",
        role: "assistant",
        content: [],
      },
    }) + this.event("response.content_part.added", {
      item_id: this.messageId,
      output_index: outputIndex,
      content_index: 0,
      part: { type: "output_text", text: "", annotations: [] },
    });
  }

  private event(type: string, data: Record<string, unknown>): string {
    return `event: ${type}\ndata: ${
      JSON.stringify({ type, sequence_number: this.sequence++, ...data })
    }\n\n`;
  }
}
