import { ChatStreamNormaliser, MAX_STREAM_CHOICES } from "./chat-stream.normaliser.ts";

function normaliser() {
  return new ChatStreamNormaliser({
    object: "chat.completion.chunk",
    clientModel: "m",
    systemFingerprint: "fp",
    includeUsage: false,
    estimatePromptTokens: () => 1,
  });
}

const chunk = (choice: Record<string, unknown>) =>
  JSON.stringify({ id: "c", created: 1, choices: [choice] });

describe("ChatStreamNormaliser", () => {
  it("relays choices with indexes inside the bound", () => {
    const stream = normaliser();
    const out = stream.accept(
      chunk({ index: MAX_STREAM_CHOICES - 1, delta: { content: "hi" }, finish_reason: null }),
    );
    expect(out).toHaveLength(1);
    expect(out[0].kind).toBe("chunk");
  });

  it("refuses an upstream-chosen choice index past the bound instead of tracking it", () => {
    const stream = normaliser();
    const out = stream.accept(chunk({ index: 1_000_000_000, delta: { content: "x" } }));
    expect(out).toEqual([{
      kind: "error",
      error: expect.objectContaining({ code: "upstream_invalid_response" }),
    }]);
    expect(stream.done).toBe(true);
    expect(normaliser().accept(chunk({ index: -1, delta: {} }))[0].kind).toBe("error");
  });

  it("refuses tool call indexes past the bound, and more tool calls than the bound", () => {
    const far = normaliser().accept(
      chunk({ index: 0, delta: { tool_calls: [{ index: 5_000, function: { arguments: "" } }] } }),
    );
    expect(far[0].kind).toBe("error");
    const many = Array.from({ length: MAX_STREAM_CHOICES + 1 }, (_, index) => ({ index: 0 }));
    expect(normaliser().accept(chunk({ index: 0, delta: { tool_calls: many } }))[0].kind).toBe(
      "error",
    );
  });

  it("relays a null delta after the first frame as an empty one, with its finish reason", () => {
    const stream = normaliser();
    stream.accept(chunk({ index: 0, delta: { content: "hi" }, finish_reason: null }));
    const out = stream.accept(chunk({ index: 0, delta: null, finish_reason: "stop" }));
    expect(out).toEqual([{
      kind: "chunk",
      chunk: expect.objectContaining({
        choices: [{ index: 0, delta: {}, finish_reason: "stop" }],
      }),
    }]);
    expect(stream.done).toBe(false);
  });
});
