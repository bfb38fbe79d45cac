import { estimateTokens, prepareUpstreamBody } from "../request-normaliser.ts";
import { openAiChunkFormat } from "../streaming/stream-formats.ts";
import { openAiUsage, usageOf } from "../usage.ts";
import { validateCompletionRequest } from "../validation/completions.validation.ts";
import { type CallSpec, fingerprint } from "./call-spec.ts";

/** `POST /v1/completions` (legacy text completions). */
export function completionsCall(raw: unknown): CallSpec {
  const completion = validateCompletionRequest(raw);
  return {
    endpoint: "completions",
    purpose: "completions",
    model: completion.model,
    path: "/completions",
    stream: completion.stream,
    includeUsage: completion.includeUsage,
    upstreamBody: (route) => prepareUpstreamBody(completion.body, route, completion.stream),
    estimatePromptTokens: () => estimateTokens(completion.body.prompt),
    shape: (data, route) => {
      const usage = usageOf(
        data.usage,
        () => estimateTokens(completion.body.prompt),
        () => estimateTokens((data.choices ?? []).map((choice: any) => choice?.text ?? "")),
      );
      data.model = completion.model;
      data.object = "text_completion";
      data.system_fingerprint = fingerprint(route);
      if (!data.usage) data.usage = openAiUsage(usage);
      return { body: data, usage, finishReason: data.choices?.[0]?.finish_reason ?? null };
    },
    streamObject: "text_completion",
    streamFormat: () => openAiChunkFormat,
  };
}
