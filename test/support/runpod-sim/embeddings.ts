import { countTokens, embeddingOf, embeddingToBase64 } from "./text-gen.ts";

/**
 * RunPod's embeddings worker (runpod-workers/worker-infinity-embedding; runpod-api.md 2): the
 * OpenAI embeddings body in, the OpenAI list out, through `/openai/v1/embeddings` or a queue job
 * with the same fields. Vectors are deterministic per text (text-gen.ts).
 */
export function embeddingList(
  body: any,
  model: string,
  dimensions: number,
): { list: unknown } | { error: string; param: string } {
  const inputs = typeof body?.input === "string"
    ? [body.input]
    : Array.isArray(body?.input) && body.input.length > 0 &&
        body.input.every((item: unknown) => typeof item === "string")
    ? body.input as string[]
    : undefined;
  if (!inputs) {
    return { error: "input must be a string or a non-empty list of strings", param: "input" };
  }
  if (body.encoding_format != null && !["float", "base64"].includes(body.encoding_format)) {
    return { error: "encoding_format must be float or base64", param: "encoding_format" };
  }
  const base64 = body.encoding_format === "base64";
  const tokens = inputs.reduce((sum, text) => sum + countTokens(text), 0);
  return {
    list: {
      object: "list",
      data: inputs.map((text, index) => {
        const vector = embeddingOf(text, dimensions);
        return {
          object: "embedding",
          embedding: base64 ? embeddingToBase64(vector) : vector,
          index,
        };
      }),
      model,
      usage: { prompt_tokens: tokens, total_tokens: tokens },
    },
  };
}
