import { randomBase62 } from "../../common/ids.ts";
import type { OpenAiErrorBody } from "../../common/api-error.ts";
import type { Body } from "../../common/body-fields.ts";
import { responseObject, type ResponseUsage } from "../responses.adapter.ts";

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
