import { randomBase62 } from "../common/ids.ts";
import type { OpenAiErrorBody } from "../common/api-error.ts";
import { type Body, clip } from "../common/body-fields.ts";
import { ApiError } from "../common/api-error.ts";

/**
 * `/responses` on top of any chat-completions upstream (vLLM and Ollama differ widely in their
 * own Responses support, openai-compat.md 4): the request becomes a chat request, the answer a
 * Response object, and a chat stream becomes the Responses event sequence
 * (streaming/responses-stream.writer.ts).
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
