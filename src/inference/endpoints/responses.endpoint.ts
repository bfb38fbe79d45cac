import type { Body } from "../../common/body-fields.ts";
import type { Clock } from "../../common/clock.ts";
import { estimateTokens, prepareUpstreamBody } from "../request-normaliser.ts";
import {
  chatCompletionToOutput,
  newResponseId,
  responseObject,
  responsesToChatBody,
} from "../responses.adapter.ts";
import { ResponsesStreamWriter } from "../streaming/responses-stream.writer.ts";
import { responsesFormat } from "../streaming/stream-formats.ts";
import { usageOf } from "../usage.ts";
import { validateResponsesRequest } from "../validation/responses.validation.ts";
import type { CallSpec } from "./call-spec.ts";

/** `POST /v1/responses`, served through the upstream's chat completions. */
export function responsesCall(raw: unknown, clock: Clock): CallSpec {
  const request = validateResponsesRequest(raw);
  const chatBody: Body = { ...responsesToChatBody(request.body), stream: request.stream };
  const id = newResponseId();
  const createdAt = Math.floor(clock.now().getTime() / 1000);
  return {
    endpoint: "responses",
    purpose: "responses",
    model: request.model,
    path: "/chat/completions",
    stream: request.stream,
    includeUsage: false,
    upstreamBody: (route) => prepareUpstreamBody(chatBody, route, request.stream),
    estimatePromptTokens: () => estimateTokens(chatBody.messages),
    shape: (data) => {
      const usage = usageOf(
        data.usage,
        () => estimateTokens(chatBody.messages),
        () => estimateTokens((data.choices ?? []).map((choice: any) => choice?.message ?? {})),
      );
      const finishReason = data.choices?.[0]?.finish_reason ?? null;
      const body = responseObject(
        request.body,
        id,
        createdAt,
        request.model,
        finishReason === "length" ? "incomplete" : "completed",
        chatCompletionToOutput(data),
        {
          input_tokens: usage.promptTokens,
          output_tokens: usage.completionTokens,
          total_tokens: usage.totalTokens,
        },
      );
      return { body, usage, finishReason };
    },
    streamObject: "chat.completion.chunk",
    streamFormat: () =>
      responsesFormat(new ResponsesStreamWriter(request.body, id, createdAt, request.model)),
  };
}
