import { Buffer } from "node:buffer";
import type { RawData, WebSocket } from "ws";

/**
 * One session of an OpenAI Realtime-compatible server (the GA event names of the `openai`
 * package's types), as speaches or huggingface/speech-to-speech would run it on a RunPod
 * load-balancing endpoint. Shared by the simulator's realtime worker and the standalone local
 * upstream (test/support/upstreams/realtime-upstream.ts). Deterministic, so tests can predict
 * text and usage exactly:
 *
 * - the reply is "Hello from <speaker>! You said: <last user text>", one word per delta; a user
 *   audio item reads as "(audio N ms)";
 * - a text token is a word; input audio costs 1 token per 100 ms, output audio 1 per 50 ms
 *   (PCM16 mono 24 kHz, 200 ms of tone per spoken word);
 * - every response re-reads the whole conversation (input tokens grow with each turn, as the
 *   Realtime API bills); the part the previous response already read is reported as cached.
 */
export interface RealtimeBehaviour {
  /** Delay between `response.create` and `response.created`. */
  latencyMs: number;
  /** Delay between two deltas of a response. */
  deltaDelayMs: number;
  /** The socket is destroyed (no close frame) after this many deltas of a response. */
  dropAfterDeltas: number | null;
  /** Every `response.done` is sent twice, as a replaying upstream would. */
  duplicateDone: boolean;
}

export interface RealtimeSessionOptions {
  model: string;
  /** Read at each step, so a changed knob applies to sessions already open. */
  behaviour: () => RealtimeBehaviour;
  speaker?: string;
  /** Every client event, parsed (tests check what reached the upstream). */
  onClientEvent?: (event: any) => void;
}

/** 24 kHz × 2 bytes, mono. */
const PCM_BYTES_PER_SECOND = 48_000;
const SPOKEN_WORD_MS = 200;
/** Replies stop here (an unbounded `max_output_tokens` still ends). */
const MAX_REPLY_WORDS = 256;

interface Item {
  id: string;
  role: "user" | "assistant" | "system";
  text: string;
  audioMs: number;
}

export function serveRealtimeSession(socket: WebSocket, options: RealtimeSessionOptions): void {
  let counter = 0;
  const id = (prefix: string) => `${prefix}_sim${(++counter).toString(36).padStart(6, "0")}`;
  const sessionId = id("sess");
  const speaker = options.speaker ?? "the realtime simulator";
  const items: Item[] = [];
  let audioBuffer = 0;
  let previousInput = { text: 0, audio: 0 };
  let running: { cancelled: boolean } | undefined;
  const session: Record<string, any> = {
    type: "realtime",
    object: "realtime.session",
    id: sessionId,
    model: options.model,
    output_modalities: ["text"],
    instructions: "",
    max_output_tokens: "inf",
    audio: {
      input: { format: { type: "audio/pcm", rate: 24_000 }, transcription: null },
      output: { format: { type: "audio/pcm", rate: 24_000 }, voice: "alloy" },
    },
  };

  const send = (event: Record<string, unknown>) => {
    if (socket.readyState !== socket.OPEN) return false;
    socket.send(JSON.stringify({ event_id: id("event"), ...event }));
    return true;
  };
  const error = (code: string, message: string, clientEventId?: string) =>
    send({
      type: "error",
      error: { type: "invalid_request_error", code, message, param: null, event_id: clientEventId },
    });

  const respond = async (request: Record<string, any>) => {
    const behaviour = options.behaviour();
    const modalities: string[] = request.output_modalities ?? session.output_modalities;
    const audio = modalities.includes("audio");
    const limit = typeof request.max_output_tokens === "number"
      ? request.max_output_tokens
      : MAX_REPLY_WORDS;
    const lastUser = [...items].reverse().find((item) => item.role === "user");
    const said = lastUser ? lastUser.text || `(audio ${lastUser.audioMs} ms)` : "nothing";
    const words = `Hello from ${speaker}! You said: ${said}`.split(/\s+/).filter(Boolean);
    const spoken = words.slice(0, Math.min(limit, MAX_REPLY_WORDS));
    const input = {
      text: wordsIn(session.instructions) +
        items.reduce((sum, item) => sum + wordsIn(item.text), 0),
      audio: items.reduce((sum, item) => sum + Math.ceil(item.audioMs / 100), 0),
    };
    const responseId = id("resp");
    const itemId = id("item");
    const state = { cancelled: false };
    running = state;
    await sleep(behaviour.latencyMs);
    const base = { object: "realtime.response", id: responseId, output_modalities: modalities };
    if (
      !send({ type: "response.created", response: { ...base, status: "in_progress", output: [] } })
    ) {
      return;
    }
    const item = { id: itemId, type: "message", role: "assistant", status: "in_progress" };
    send({ type: "response.output_item.added", response_id: responseId, output_index: 0, item });
    const part = { response_id: responseId, item_id: itemId, output_index: 0, content_index: 0 };
    send({
      type: "response.content_part.added",
      ...part,
      part: audio ? { type: "audio", transcript: "" } : { type: "text", text: "" },
    });
    const sentWords: string[] = [];
    for (const word of spoken) {
      if (state.cancelled || socket.readyState !== socket.OPEN) break;
      const delta = sentWords.length === 0 ? word : ` ${word}`;
      if (audio) {
        send({ type: "response.output_audio.delta", ...part, delta: tone(sentWords.length) });
        send({ type: "response.output_audio_transcript.delta", ...part, delta });
      } else {
        send({ type: "response.output_text.delta", ...part, delta });
      }
      sentWords.push(word);
      if (behaviour.dropAfterDeltas !== null && sentWords.length >= behaviour.dropAfterDeltas) {
        socket.terminate();
        return;
      }
      await sleep(behaviour.deltaDelayMs);
    }
    if (socket.readyState !== socket.OPEN) return;
    const text = sentWords.join(" ");
    if (audio) {
      send({ type: "response.output_audio.done", ...part });
      send({ type: "response.output_audio_transcript.done", ...part, transcript: text });
    } else {
      send({ type: "response.output_text.done", ...part, text });
    }
    const content = audio
      ? { type: "output_audio", transcript: text }
      : { type: "output_text", text };
    send({ type: "response.content_part.done", ...part, part: content });
    const doneItem = { ...item, status: "completed", content: [content] };
    send({
      type: "response.output_item.done",
      response_id: responseId,
      output_index: 0,
      item: doneItem,
    });
    items.push({
      id: itemId,
      role: "assistant",
      text,
      audioMs: audio ? sentWords.length * SPOKEN_WORD_MS : 0,
    });
    const cached = {
      text: Math.min(previousInput.text, input.text),
      audio: Math.min(previousInput.audio, input.audio),
    };
    previousInput = input;
    const output = {
      text: sentWords.length,
      audio: audio ? Math.ceil((sentWords.length * SPOKEN_WORD_MS) / 50) : 0,
    };
    const status = state.cancelled
      ? "cancelled"
      : sentWords.length < words.length
      ? "incomplete"
      : "completed";
    const usage = {
      total_tokens: input.text + input.audio + output.text + output.audio,
      input_tokens: input.text + input.audio,
      output_tokens: output.text + output.audio,
      input_token_details: {
        text_tokens: input.text,
        audio_tokens: input.audio,
        cached_tokens: cached.text + cached.audio,
        cached_tokens_details: { text_tokens: cached.text, audio_tokens: cached.audio },
      },
      output_token_details: { text_tokens: output.text, audio_tokens: output.audio },
    };
    const done = {
      type: "response.done",
      response: { ...base, status, output: [doneItem], usage },
    };
    send(done);
    if (behaviour.duplicateDone) send(done);
    if (running === state) running = undefined;
  };

  const addItem = (role: Item["role"], text: string, audioMs: number, itemId = id("item")) => {
    const previous = items.at(-1)?.id ?? null;
    const item: Item = { id: itemId, role, text, audioMs };
    items.push(item);
    const shape = {
      id: item.id,
      type: "message",
      role,
      status: "completed",
      content: audioMs > 0
        ? [{ type: "input_audio", transcript: null }]
        : [{ type: "input_text", text }],
    };
    send({ type: "conversation.item.added", previous_item_id: previous, item: shape });
    send({ type: "conversation.item.done", previous_item_id: previous, item: shape });
    return item;
  };

  const handle = (event: any) => {
    const clientEventId = typeof event.event_id === "string" ? event.event_id : undefined;
    switch (event.type) {
      case "session.update":
        Object.assign(session, event.session ?? {}, { id: sessionId, model: options.model });
        return void send({ type: "session.updated", session });
      case "conversation.item.create": {
        const item = event.item ?? {};
        const text = (item.content ?? [])
          .map((part: any) => (typeof part?.text === "string" ? part.text : ""))
          .join(" ").trim();
        const role = ["user", "assistant", "system"].includes(item.role) ? item.role : "user";
        return void addItem(role, text, 0);
      }
      case "input_audio_buffer.append": {
        if (typeof event.audio !== "string") {
          return void error("invalid_value", "audio must be base64 PCM16", clientEventId);
        }
        audioBuffer += Buffer.from(event.audio, "base64").length;
        return;
      }
      case "input_audio_buffer.clear":
        audioBuffer = 0;
        return void send({ type: "input_audio_buffer.cleared" });
      case "input_audio_buffer.commit": {
        if (audioBuffer === 0) {
          return void error(
            "input_audio_buffer_commit_empty",
            "the buffer is empty",
            clientEventId,
          );
        }
        const audioMs = Math.round((audioBuffer / PCM_BYTES_PER_SECOND) * 1000);
        audioBuffer = 0;
        const previous = items.at(-1)?.id ?? null;
        const itemId = id("item");
        send({ type: "input_audio_buffer.committed", previous_item_id: previous, item_id: itemId });
        const item = addItem("user", "", audioMs, itemId);
        if (session.audio?.input?.transcription) {
          const seconds = audioMs / 1000;
          send({
            type: "conversation.item.input_audio_transcription.completed",
            item_id: item.id,
            content_index: 0,
            transcript: `(audio ${audioMs} ms)`,
            usage: { type: "duration", seconds },
          });
        }
        return;
      }
      case "response.create":
        if (running) {
          return void error(
            "conversation_already_has_active_response",
            "a response is in progress",
            clientEventId,
          );
        }
        return void respond(event.response ?? {}).catch(() => socket.terminate());
      case "response.cancel":
        if (running) running.cancelled = true;
        return;
      default:
        return void error(
          "unknown_event",
          `unknown event type ${String(event.type)}`,
          clientEventId,
        );
    }
  };

  socket.on("message", (data: RawData, isBinary: boolean) => {
    if (isBinary) return void error("invalid_event", "binary frames are not events");
    let event: any;
    try {
      event = JSON.parse(data.toString());
    } catch {
      return void error("invalid_json", "the frame is not JSON");
    }
    if (event === null || typeof event !== "object" || typeof event.type !== "string") {
      return void error("invalid_event", "an event is an object with a string type");
    }
    options.onClientEvent?.(event);
    handle(event);
  });
  send({ type: "session.created", session });
}

function wordsIn(text: unknown): number {
  return typeof text === "string" ? text.split(/\s+/).filter(Boolean).length : 0;
}

/** 200 ms of a 440 Hz tone (a little higher each word), PCM16 little-endian, base64. */
const TONES = Array.from({ length: 8 }, (_, step) => {
  const samples = (24_000 * SPOKEN_WORD_MS) / 1000;
  const pcm = Buffer.alloc(samples * 2);
  const frequency = 440 + step * 20;
  for (let i = 0; i < samples; i++) {
    pcm.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * frequency * i) / 24_000)), i * 2);
  }
  return pcm.toString("base64");
});

function tone(word: number): string {
  return TONES[word % TONES.length];
}

function sleep(ms: number): Promise<void> {
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}
