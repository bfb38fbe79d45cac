import { ChatStreamNormaliser } from "./chat-stream.normaliser.ts";
import { openAiChunkFormat } from "./stream-formats.ts";

function normaliser(serialisedChunks: boolean, includeUsage = true) {
  return new ChatStreamNormaliser({
    object: "chat.completion.chunk",
    clientModel: "client-model",
    systemFingerprint: "fp_gateway",
    includeUsage,
    estimatePromptTokens: () => 7,
    serialisedChunks,
  });
}

/** Small seeded generator, so a failure names a reproducible case. */
function random(seed: number) {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

/** Texts that stringify plainly, and ones that must leave the fast path (escapes, quotes, …). */
const PIECES = [
  " word",
  "é",
  "😀",
  'say "hi"',
  "back\\slash",
  "line\nbreak",
  "tab\there",
  "\u0007bell",
  "\u2028",
  "",
  '"},"finish_reason":"stop"}],"x":{"a":"',
  "/path/",
];

/** How an upstream might write one content frame's payload, canonical or not. */
function contentPayload(next: () => number, content: string, id: string): string {
  const frame = {
    id,
    object: "chat.completion.chunk",
    created: 1_765_000_000,
    model: "Qwen/Qwen3-8B",
    choices: [{ index: 0, delta: { content }, logprobs: null, finish_reason: null }],
  };
  const text = JSON.stringify(frame);
  const variant = next();
  if (variant < 0.08) return JSON.stringify(frame, null, 1);
  if (variant < 0.14) return text.replace("é", "\\u00e9");
  if (variant < 0.2) return text.replaceAll("/", "\\/");
  if (variant < 0.24) return text.replace('"content":"', '"content": "');
  return text;
}

/** One upstream stream: role frame, content frames (shapes and ids mixed in), finish, usage. */
function upstreamStream(seed: number): string[] {
  const next = random(seed);
  const frames = [JSON.stringify({
    id: "chatcmpl-1",
    object: "chat.completion.chunk",
    created: 1_765_000_000,
    model: "Qwen/Qwen3-8B",
    choices: [{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }],
  })];
  for (let frame = 0; frame < 40; frame++) {
    const content = Array.from(
      { length: 1 + Math.floor(next() * 3) },
      () => PIECES[Math.floor(next() * PIECES.length)],
    ).join("");
    const id = next() < 0.05 ? "chatcmpl-other" : "chatcmpl-1";
    if (next() < 0.05) {
      frames.push(JSON.stringify({
        id,
        choices: [{ index: 0, delta: { role: "assistant", content }, finish_reason: null }],
      }));
    } else frames.push(contentPayload(next, content, id));
  }
  frames.push(JSON.stringify({
    id: "chatcmpl-1",
    object: "chat.completion.chunk",
    created: 1_765_000_000,
    model: "Qwen/Qwen3-8B",
    choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: "stop" }],
  }));
  frames.push(JSON.stringify({
    id: "chatcmpl-1",
    choices: [],
    usage: { prompt_tokens: 3, completion_tokens: 40, total_tokens: 43 },
  }));
  frames.push("[DONE]");
  return frames;
}

/** What a client receives, frame by frame, and what the stream records. */
function relay(stream: ChatStreamNormaliser, payloads: string[]) {
  const sent: string[] = [];
  let serialised = 0;
  for (const payload of payloads) {
    for (const output of stream.accept(payload)) {
      if (output.kind === "serialised") serialised++;
      sent.push(openAiChunkFormat.render(output));
    }
  }
  return {
    sent,
    serialised,
    outputChars: stream.outputChars,
    sawToken: stream.sawToken,
    finishReason: stream.finishReason,
    usage: stream.finalUsage(),
    error: stream.error,
  };
}

describe("ContentFrameTemplate (the normaliser's fast path for repeated content frames)", () => {
  it("sends the very bytes the full parse sends, for 300 seeded streams of mixed frames", () => {
    let fastFrames = 0;
    for (let seed = 1; seed <= 300; seed++) {
      const payloads = upstreamStream(seed);
      const fast = relay(normaliser(true, seed % 2 === 0), payloads);
      const full = relay(normaliser(false, seed % 2 === 0), payloads);
      expect({ seed, ...fast, serialised: 0 }).toEqual({ seed, ...full, serialised: 0 });
      expect(full.serialised).toBe(0);
      fastFrames += fast.serialised;
    }
    // The comparison above means something only if the fast path was taken often.
    expect(fastFrames).toBeGreaterThan(300 * 10);
  });

  it("rewrites plain frames without a parse and counts their decoded characters", () => {
    const stream = normaliser(true, false);
    const frame = (content: string) =>
      JSON.stringify({
        id: "c",
        object: "chat.completion.chunk",
        created: 1,
        model: "upstream",
        choices: [{ index: 0, delta: { content }, finish_reason: null }],
      });
    stream.accept(frame("first"));
    stream.accept(frame("second"));
    const [output] = stream.accept(frame('a "quoted"\nline'));
    expect(output).toEqual({
      kind: "serialised",
      json: JSON.stringify({
        id: "c",
        object: "chat.completion.chunk",
        created: 1,
        model: "client-model",
        choices: [{ index: 0, delta: { content: 'a "quoted"\nline' }, finish_reason: null }],
        system_fingerprint: "fp_gateway",
      }),
    });
    expect(stream.outputChars).toBe("first".length + "second".length + 'a "quoted"\nline'.length);
  });

  it("takes the full path for a content string that would smuggle in fields", () => {
    const stream = normaliser(true, false);
    const prefix = '{"id":"c","choices":[{"index":0,"delta":{"content":"';
    const suffix = '"},"finish_reason":null}]}';
    stream.accept(`${prefix}one${suffix}`);
    stream.accept(`${prefix}two${suffix}`);
    const smuggled = stream.accept(
      `${prefix}x","tool_calls":[{"index":0,"function":{"arguments":"{}"}}],"note":"${suffix}`,
    );
    expect(smuggled).toHaveLength(1);
    expect(smuggled[0].kind === "chunk" && smuggled[0].chunk.choices[0].delta).toEqual({
      content: "x",
      tool_calls: [{ index: 0, function: { arguments: "{}" } }],
      note: "",
    });
  });
});
