import { createHash } from "node:crypto";
import type { RealtimePricing } from "../catalogue/catalogue.ts";
import type { RealtimeTotals } from "./realtime.events.ts";

/**
 * Pure arithmetic over what upstreams report: bounding a reported usage object before it is
 * stored, the token totals it adds, and what it costs at a catalogue model's prices. Everything
 * here distrusts its input: upstreams are accounts' own servers.
 */

/** Largest usage object stored as reported; a bigger one keeps only the numbers billing reads. */
const MAX_USAGE_JSON = 4_096;
/** Token counts past this are treated as this (no upstream reports a billion tokens a turn). */
const MAX_TOKENS = 1_000_000_000;
const MAX_RESPONSE_ID = 128;

export const ZERO_TOTALS: RealtimeTotals = Object.freeze({
  inputTokens: 0,
  outputTokens: 0,
  textInputTokens: 0,
  audioInputTokens: 0,
  cachedInputTokens: 0,
  textOutputTokens: 0,
  audioOutputTokens: 0,
});

/** The response id as recorded and keyed: as sent when short, else a digest of it. */
export function responseKey(id: unknown): string | undefined {
  if (typeof id !== "string" || id.length === 0) return undefined;
  if (id.length <= MAX_RESPONSE_ID && /^[\x21-\x7e]+$/.test(id)) return id;
  return `sha256:${createHash("sha256").update(id).digest("hex")}`;
}

/** The usage object as reported when small enough, else its known numeric fields only. */
export function boundedUsage(usage: unknown): Record<string, unknown> | null {
  if (typeof usage !== "object" || usage === null || Array.isArray(usage)) return null;
  const text = JSON.stringify(usage);
  if (text.length <= MAX_USAGE_JSON) return JSON.parse(text);
  const record = usage as Record<string, unknown>;
  const details = (value: unknown) => {
    const source = (typeof value === "object" && value !== null ? value : {}) as Record<
      string,
      unknown
    >;
    return {
      text_tokens: tokens(source.text_tokens),
      audio_tokens: tokens(source.audio_tokens),
      cached_tokens: tokens(source.cached_tokens),
    };
  };
  return {
    total_tokens: tokens(record.total_tokens),
    input_tokens: tokens(record.input_tokens),
    output_tokens: tokens(record.output_tokens),
    input_token_details: details(record.input_token_details),
    output_token_details: details(record.output_token_details),
    truncated: true,
  };
}

/** What one response's usage adds to the session totals. */
export function usageTotals(usage: Record<string, unknown> | null): RealtimeTotals {
  if (!usage) return ZERO_TOTALS;
  const input = tokens(usage.input_tokens);
  const output = tokens(usage.output_tokens);
  const inputDetails = objectOf(usage.input_token_details);
  const outputDetails = objectOf(usage.output_token_details);
  // Without details every token counts as text, the cheaper kind nowhere being assumed.
  const audioInput = Math.min(input, tokens(inputDetails.audio_tokens));
  const audioOutput = Math.min(output, tokens(outputDetails.audio_tokens));
  return {
    inputTokens: input,
    outputTokens: output,
    audioInputTokens: audioInput,
    textInputTokens: input - audioInput,
    cachedInputTokens: Math.min(input, tokens(inputDetails.cached_tokens)),
    audioOutputTokens: audioOutput,
    textOutputTokens: output - audioOutput,
  };
}

export function addTotals(a: RealtimeTotals, b: RealtimeTotals): RealtimeTotals {
  return {
    inputTokens: a.inputTokens + b.inputTokens,
    outputTokens: a.outputTokens + b.outputTokens,
    textInputTokens: a.textInputTokens + b.textInputTokens,
    audioInputTokens: a.audioInputTokens + b.audioInputTokens,
    cachedInputTokens: a.cachedInputTokens + b.cachedInputTokens,
    textOutputTokens: a.textOutputTokens + b.textOutputTokens,
    audioOutputTokens: a.audioOutputTokens + b.audioOutputTokens,
  };
}

/**
 * Micro-dollars a response costs at per-token prices, rounded up once over the whole sum.
 * Cached input tokens are taken out of the text input first (then audio) and priced at the
 * cached price when the model has one. Transcription usage in tokens is priced as audio in and
 * text out; a duration-form transcription usage is recorded but not priced per token.
 */
export function responseCostMicros(
  pricing: RealtimePricing | null,
  usage: Record<string, unknown> | null,
  transcription: readonly Record<string, unknown>[] = [],
): number {
  if (!pricing || pricing.kind !== "tokens") return 0;
  const totals = usageTotals(usage);
  const cached = totals.cachedInputTokens;
  const cachedText = Math.min(cached, totals.textInputTokens);
  const cachedAudio = Math.min(cached - cachedText, totals.audioInputTokens);
  const cachedPrice = (ownPrice: number) => pricing.cachedInputPerMillionMicros ?? ownPrice;
  // BigInt: a hostile upstream's token counts times a price must not lose precision.
  const cost = (count: number, price: number) => BigInt(count) * BigInt(price);
  let perMillion = cost(totals.textInputTokens - cachedText, pricing.textInputPerMillionMicros) +
    cost(cachedText, cachedPrice(pricing.textInputPerMillionMicros)) +
    cost(totals.audioInputTokens - cachedAudio, pricing.audioInputPerMillionMicros) +
    cost(cachedAudio, cachedPrice(pricing.audioInputPerMillionMicros)) +
    cost(totals.textOutputTokens, pricing.textOutputPerMillionMicros) +
    cost(totals.audioOutputTokens, pricing.audioOutputPerMillionMicros);
  for (const entry of transcription) {
    if (entry.type === "duration") continue;
    const input = tokens(entry.input_tokens);
    const reportedAudio = tokens(objectOf(entry.input_token_details).audio_tokens);
    // Transcription input is audio unless the upstream says how much of it is.
    const audio = reportedAudio > 0 ? Math.min(input, reportedAudio) : input;
    perMillion += cost(audio, pricing.audioInputPerMillionMicros) +
      cost(input - audio, pricing.textInputPerMillionMicros) +
      cost(tokens(entry.output_tokens), pricing.textOutputPerMillionMicros);
  }
  const micros = (perMillion + 999_999n) / 1_000_000n;
  // Past a safe integer the ledger could not hold it anyway: charge the most it can.
  return micros > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(micros);
}

function tokens(value: unknown): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) return 0;
  return Math.min(MAX_TOKENS, Math.floor(value));
}

function objectOf(value: unknown): Record<string, unknown> {
  return typeof value === "object" && value !== null ? value as Record<string, unknown> : {};
}
