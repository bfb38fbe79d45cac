import type { OpenAiErrorBody } from "../../common/api-error.ts";
import type { ChatStreamNormaliser, StreamOutput } from "./chat-stream.normaliser.ts";
import type { ResponsesStreamWriter } from "./responses-stream.writer.ts";

/** How normalised stream outputs become SSE bytes for one endpoint. */
export interface StreamFormat {
  /** `render` writes a chunk as `data: <its JSON>`: the normaliser may hand it serialised chunks. */
  readonly writesChunkJson: boolean;
  start(): string;
  render(output: StreamOutput): string;
  /** After a successful end (not after an error). */
  end(normaliser: ChatStreamNormaliser): string;
}

const DONE = "data: [DONE]\n\n";

/** Chat and legacy completions: `data: <json>` frames, an error frame then `[DONE]` on failure. */
export const openAiChunkFormat: StreamFormat = {
  writesChunkJson: true,
  start: () => "",
  render(output) {
    if (output.kind === "serialised") return `data: ${output.json}\n\n`;
    if (output.kind === "chunk") return `data: ${JSON.stringify(output.chunk)}\n\n`;
    return errorFrame(output.error) + DONE;
  },
  end: () => DONE,
};

export function errorFrame(error: OpenAiErrorBody): string {
  return `data: ${JSON.stringify({ error })}\n\n`;
}

/** `/responses`: chat chunks become the Responses event sequence. */
export function responsesFormat(writer: ResponsesStreamWriter): StreamFormat {
  return {
    writesChunkJson: false,
    start: () => writer.start(),
    render(output) {
      if (output.kind === "chunk") return writer.chunk(output.chunk);
      // Not handed out to this format (writesChunkJson is false); parsed back should it come.
      if (output.kind === "serialised") return writer.chunk(JSON.parse(output.json));
      return writer.error(output.error);
    },
    end(normaliser) {
      const usage = normaliser.finalUsage();
      return writer.complete(
        {
          input_tokens: usage.prompt_tokens,
          output_tokens: usage.completion_tokens,
          total_tokens: usage.total_tokens,
        },
        normaliser.finishReason,
      );
    },
  };
}
