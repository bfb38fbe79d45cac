import { ApiError } from "../../common/api-error.ts";
import { encodeEmbedding } from "../embeddings-encoding.ts";
import type { InferenceUsage } from "../inference.events.ts";
import { estimateTokens } from "../request-normaliser.ts";
import { validateEmbeddingRequest } from "../validation/embeddings.validation.ts";
import type { CallSpec } from "./call-spec.ts";

/** `POST /v1/embeddings`: never streamed; vectors re-encoded as the client asked. */
export function embeddingsCall(raw: unknown): CallSpec {
  const embedding = validateEmbeddingRequest(raw);
  return {
    endpoint: "embeddings",
    purpose: "embeddings",
    model: embedding.model,
    path: "/embeddings",
    stream: false,
    includeUsage: false,
    upstreamBody: (route) => ({ ...embedding.body, model: route.upstreamModel }),
    estimatePromptTokens: () => estimateTokens(embedding.body.input),
    shape: (data) => {
      if (!Array.isArray(data.data)) {
        throw new ApiError(
          502,
          "The upstream model server sent an invalid embeddings response.",
          {
            type: "api_error",
            code: "upstream_bad_response",
          },
        );
      }
      for (const item of data.data) {
        item.embedding = encodeEmbedding(item.embedding, embedding.encoding);
      }
      data.model = embedding.model;
      const reported = Number.isInteger(data.usage?.prompt_tokens);
      const promptTokens: number = reported
        ? data.usage.prompt_tokens
        : estimateTokens(embedding.body.input);
      const usage: InferenceUsage = {
        promptTokens,
        completionTokens: 0,
        totalTokens: promptTokens,
        usageEstimated: !reported,
      };
      data.usage ??= { prompt_tokens: usage.promptTokens, total_tokens: usage.totalTokens };
      return { body: data, usage, finishReason: null };
    },
  };
}
