import type { OpenAiErrorBody } from "../../common/api-error.ts";
import { ContentFrameTemplate } from "./content-frame-template.ts";

export interface UpstreamUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  [key: string]: unknown;
}

export type StreamOutput =
  | { kind: "chunk"; chunk: Record<string, any> }
  /** A chunk already serialised: exactly `JSON.stringify` of the chunk it stands for. */
  | { kind: "serialised"; json: string }
  | { kind: "error"; error: OpenAiErrorBody };

export interface NormaliserOptions {
  /** `chat.completion.chunk` (role-first deltas) or `text_completion` (legacy completions). */
  object: "chat.completion.chunk" | "text_completion";
  /** The model name the client asked for, written into every chunk. */
  clientModel: string;
  systemFingerprint: string;
  /** The client asked `stream_options.include_usage`. */
  includeUsage: boolean;
  /** Prompt size estimate, used only when the upstream reports no usage. */
  estimatePromptTokens: () => number;
  /**
   * The caller writes chunks as their JSON text, so repeated content frames may come out as
   * `serialised` text rewritten without a parse (ContentFrameTemplate).
   */
  serialisedChunks?: boolean;
}

/** Plain content frames a stream may offer before the normaliser stops trying to cut a template. */
const TEMPLATE_ATTEMPTS = 3;

/**
 * Most choices (and tool calls per choice) a stream may carry. The normaliser keeps state per
 * upstream-chosen index, so an index past this is refused rather than tracked.
 */
export const MAX_STREAM_CHOICES = 128;

/**
 * Turns an upstream's chat/completion chunks into what OpenAI clients rely on
 * (openai-compat.md 1.3, 4): the client's model name; role on each choice's first chunk; exactly
 * one finish_reason per choice; `usage: null` on chunks and one final `choices: []` usage chunk
 * only when the client asked (the gateway always asks the upstream, for metering); an upstream
 * `{error}` frame, or a stream that ends before every choice finished (Ollama's truncated
 * stream), becomes an error. Pure: no I/O, so it is unit-tested frame by frame.
 */
export class ChatStreamNormaliser {
  usage?: UpstreamUsage;
  error?: OpenAiErrorBody;
  /** Text and tool-call argument characters seen (usage estimate when the upstream gives none). */
  outputChars = 0;
  /** True once any token (content, tool call or text) arrived. */
  sawToken = false;
  finishReason: string | null = null;
  private readonly roleSent = new Set<number>();
  private readonly finished = new Set<number>();
  private id?: string;
  private created?: number;
  private ended = false;
  private template?: ContentFrameTemplate;
  private templateAttempts = 0;

  constructor(private readonly options: NormaliserOptions) {}

  get done(): boolean {
    return this.ended;
  }

  /** One upstream `data:` payload in; zero or more outputs. */
  accept(payload: string): StreamOutput[] {
    if (this.ended) return [];
    if (payload === "[DONE]") return this.finish(true);
    if (this.template !== undefined) {
      const json = this.template.rewrite(payload);
      if (json !== undefined) {
        const chars = this.template.contentChars;
        if (chars > 0) {
          this.outputChars += chars;
          this.sawToken = true;
        }
        return [{ kind: "serialised", json }];
      }
    }
    let chunk: Record<string, any>;
    try {
      chunk = JSON.parse(payload);
    } catch {
      return this.fail(
        "The upstream model server sent a malformed stream frame.",
        "upstream_bad_frame",
      );
    }
    if (chunk === null || typeof chunk !== "object") {
      return this.fail(
        "The upstream model server sent a malformed stream frame.",
        "upstream_bad_frame",
      );
    }
    if (chunk.error) {
      const upstream = typeof chunk.error === "object"
        ? chunk.error
        : { message: String(chunk.error) };
      return this.fail(
        typeof upstream.message === "string" && upstream.message
          ? upstream.message
          : "The upstream model server failed while streaming.",
        typeof upstream.code === "string" ? upstream.code : "upstream_error",
      );
    }
    this.id ??= chunk.id;
    this.created ??= chunk.created;
    const carriesUsage = chunk.usage && typeof chunk.usage === "object";
    if (carriesUsage) this.usage = chunk.usage;
    const choices: any[] = Array.isArray(chunk.choices) ? chunk.choices : [];
    const kept: any[] = [];
    // A frame that changed no state by its choice (its role was sent before) may become a template.
    let roleWasSent = false;
    for (const choice of choices) {
      if (!choice || typeof choice !== "object") continue;
      const index = Number.isInteger(choice.index) ? choice.index : 0;
      if (index < 0 || index >= MAX_STREAM_CHOICES || !toolCallIndexesBounded(choice)) {
        return this.fail(
          `The upstream model server sent a choice or tool call index outside 0..${
            MAX_STREAM_CHOICES - 1
          }.`,
          "upstream_invalid_response",
        );
      }
      choice.index = index;
      if (this.options.object === "chat.completion.chunk") {
        // A missing or null delta (some servers send `"delta": null` with the finish) is `{}`.
        const delta = choice.delta && typeof choice.delta === "object" ? choice.delta : {};
        choice.delta = delta;
        roleWasSent = this.roleSent.has(index);
        if (!roleWasSent) {
          this.roleSent.add(index);
          if (delta.role !== "assistant") {
            choice.delta = { role: "assistant", ...delta };
            if (delta.content === undefined && delta.tool_calls === undefined) {
              choice.delta.content = "";
            }
          }
        } else if (delta.role !== undefined) {
          delete delta.role;
        }
        const content = choice.delta.content;
        if (typeof content === "string" && content.length > 0) {
          this.outputChars += content.length;
          this.sawToken = true;
        }
        if (Array.isArray(choice.delta.tool_calls)) {
          this.sawToken = true;
          for (const call of choice.delta.tool_calls) {
            this.outputChars += String(call?.function?.arguments ?? "").length;
          }
        }
      } else if (typeof choice.text === "string" && choice.text.length > 0) {
        this.outputChars += choice.text.length;
        this.sawToken = true;
      }
      if (choice.finish_reason !== null && choice.finish_reason !== undefined) {
        if (this.finished.has(index)) {
          choice.finish_reason = null;
          if (isEmptyChoice(choice, this.options.object)) continue;
        } else {
          this.finished.add(index);
          this.finishReason = choice.finish_reason;
        }
      } else {
        choice.finish_reason = null;
      }
      if (this.options.object === "text_completion") this.roleSent.add(index);
      kept.push(choice);
    }
    // A usage-only chunk (or an empty one) is held: the gateway writes its own usage chunk last.
    if (kept.length === 0) return [];
    chunk.choices = kept;
    chunk.object = this.options.object;
    chunk.model = this.options.clientModel;
    chunk.system_fingerprint = this.options.systemFingerprint;
    if (this.options.includeUsage) chunk.usage = null;
    else delete chunk.usage;
    if (
      this.options.serialisedChunks && this.template === undefined &&
      this.templateAttempts < TEMPLATE_ATTEMPTS && roleWasSent && !carriesUsage &&
      choices.length === 1 && kept.length === 1 && isPlainContent(kept[0])
    ) {
      this.templateAttempts++;
      this.template = ContentFrameTemplate.cut(payload, chunk);
    }
    return [{ kind: "chunk", chunk }];
  }

  /**
   * The upstream ended (`sawDone` when it sent `[DONE]`). A stream where a choice never got its
   * finish_reason was cut short: that is an error, not a silent end.
   */
  finish(sawDone: boolean): StreamOutput[] {
    if (this.ended) return [];
    const unfinished = this.roleSent.size === 0 ||
      [...this.roleSent].some((index) => !this.finished.has(index));
    if (unfinished) {
      return this.fail(
        sawDone
          ? "The upstream model server ended the stream without a finish reason."
          : "The upstream model server closed the stream before it was complete.",
        "upstream_stream_truncated",
      );
    }
    this.ended = true;
    if (!this.options.includeUsage) return [];
    const usage = this.finalUsage();
    return [{
      kind: "chunk",
      chunk: {
        id: this.id ?? "",
        object: this.options.object,
        created: this.created ?? Math.floor(Date.now() / 1000),
        model: this.options.clientModel,
        system_fingerprint: this.options.systemFingerprint,
        choices: [],
        usage,
      },
    }];
  }

  /** The upstream's usage, else an estimate (about 4 characters per token). */
  finalUsage(): UpstreamUsage & { estimated?: boolean } {
    if (
      this.usage && Number.isInteger(this.usage.prompt_tokens) &&
      Number.isInteger(this.usage.completion_tokens)
    ) {
      return {
        ...this.usage,
        total_tokens: Number.isInteger(this.usage.total_tokens)
          ? this.usage.total_tokens
          : this.usage.prompt_tokens + this.usage.completion_tokens,
      };
    }
    const prompt = this.options.estimatePromptTokens();
    const completion = Math.ceil(this.outputChars / 4);
    return {
      prompt_tokens: prompt,
      completion_tokens: completion,
      total_tokens: prompt + completion,
      estimated: true,
    };
  }

  /** Marks the stream failed with an error the client sees as an error frame. */
  fail(message: string, code: string | null): StreamOutput[] {
    if (this.ended) return [];
    this.ended = true;
    this.error = { message, type: "api_error", param: null, code };
    return [{ kind: "error", error: this.error }];
  }
}

function toolCallIndexesBounded(choice: any): boolean {
  const calls = choice.delta?.tool_calls;
  if (!Array.isArray(calls)) return true;
  if (calls.length > MAX_STREAM_CHOICES) return false;
  // A non-integer index is read as 0 downstream, as before; only a number out of range is refused.
  return calls.every((call: any) =>
    !Number.isInteger(call?.index) || (call.index >= 0 && call.index < MAX_STREAM_CHOICES)
  );
}

/** A chat choice whose delta is a content string and nothing else. */
function isPlainContent(choice: any): boolean {
  const delta = choice.delta;
  if (typeof delta?.content !== "string") return false;
  for (const key in delta) if (key !== "content") return false;
  return true;
}

function isEmptyChoice(choice: any, object: NormaliserOptions["object"]): boolean {
  if (object === "text_completion") return !choice.text;
  const delta = choice.delta ?? {};
  return !delta.content && !delta.tool_calls && !delta.refusal && !delta.reasoning &&
    !delta.reasoning_content;
}
