import { ApiError } from "../../common/api-error.ts";
import { estimateTokens, prepareUpstreamBody } from "../request-normaliser.ts";
import { openAiChunkFormat } from "../streaming/stream-formats.ts";
import { openAiUsage, usageOf } from "../usage.ts";
import { validateChatRequest } from "../validation/chat.validation.ts";
import { type CallSpec, fingerprint } from "./call-spec.ts";

/** `POST /v1/chat/completions`: validated here, before anything is routed. */
export function chatCall(raw: unknown): CallSpec {
  const chat = validateChatRequest(raw);
  return {
    endpoint: "chat.completions",
    purpose: "chat",
    model: chat.model,
    path: "/chat/completions",
    stream: chat.stream,
    includeUsage: chat.includeUsage,
    check(route) {
      if (route.flavour === "ollama" && chat.n > 1) {
        throw ApiError.badRequest(
          "This deployment (Ollama) supports only n = 1.",
          "n",
          "unsupported_value",
        );
      }
    },
    upstreamBody: (route) => prepareUpstreamBody(chat.body, route, chat.stream),
    estimatePromptTokens: () => estimateTokens(chat.body.messages),
    shape: (data, route, responseTimeMs) => {
      const usage = usageOf(
        data.usage,
        () => estimateTokens(chat.body.messages),
        () => estimateTokens((data.choices ?? []).map((choice: any) => choice?.message ?? {})),
      );
      data.model = chat.model;
      data.system_fingerprint = fingerprint(route);
      if (!data.usage) data.usage = openAiUsage(usage);
      data.x_modelpilot = {
        deployment_id: route.deploymentId,
        model_identifier: route.modelIdentifier,
        response_time_ms: Math.round(responseTimeMs),
        direct_endpoint: route.directEndpoint,
      };
      return { body: data, usage, finishReason: data.choices?.[0]?.finish_reason ?? null };
    },
    streamObject: "chat.completion.chunk",
    streamFormat: () => openAiChunkFormat,
  };
}
