import { type Micros, usdToMicros } from "../common/money.ts";
import type { CatalogueModel } from "./catalogue.ts";

/**
 * A `realtime` model's prices, in USD: per million tokens of each kind (billed per upstream
 * `response.done` from its reported usage), or per second of session (`per_second_usd`).
 */
export interface RealtimePricingUsd {
  text_input_per_million_usd?: number;
  text_output_per_million_usd?: number;
  audio_input_per_million_usd?: number;
  audio_output_per_million_usd?: number;
  /** Cached input tokens (either kind); default: the uncached price of their kind. */
  cached_input_per_million_usd?: number;
  per_second_usd?: number;
}

export const REALTIME_PRICE_FIELDS = [
  "text_input_per_million_usd",
  "text_output_per_million_usd",
  "audio_input_per_million_usd",
  "audio_output_per_million_usd",
  "cached_input_per_million_usd",
  "per_second_usd",
] as const;

/** The same prices in integer micro-dollars, as billing uses them. */
export type RealtimePricing =
  | {
    kind: "tokens";
    textInputPerMillionMicros: Micros;
    textOutputPerMillionMicros: Micros;
    audioInputPerMillionMicros: Micros;
    audioOutputPerMillionMicros: Micros;
    /** Null: cached tokens cost what uncached ones of their kind do. */
    cachedInputPerMillionMicros: Micros | null;
  }
  | { kind: "seconds"; perSecondMicros: Micros };

export function realtimePricing(model: CatalogueModel): RealtimePricing | undefined {
  const prices = model.realtime_pricing;
  if (model.kind !== "realtime" || !prices) return undefined;
  if (prices.per_second_usd !== undefined) {
    return { kind: "seconds", perSecondMicros: usdToMicros(prices.per_second_usd) };
  }
  return {
    kind: "tokens",
    textInputPerMillionMicros: usdToMicros(prices.text_input_per_million_usd ?? 0),
    textOutputPerMillionMicros: usdToMicros(prices.text_output_per_million_usd ?? 0),
    audioInputPerMillionMicros: usdToMicros(prices.audio_input_per_million_usd ?? 0),
    audioOutputPerMillionMicros: usdToMicros(prices.audio_output_per_million_usd ?? 0),
    cachedInputPerMillionMicros: prices.cached_input_per_million_usd === undefined
      ? null
      : usdToMicros(prices.cached_input_per_million_usd),
  };
}

/** A `realtime` entry needs its prices; only a `realtime` entry may have them. */
export function checkRealtimePricing(
  model: Record<string, unknown>,
  at: string,
  fail: (detail: string) => never,
): void {
  if (model.kind !== "realtime") fail(`${at}.realtime_pricing is only for kind 'realtime'`);
  const prices = model.realtime_pricing;
  if (typeof prices !== "object" || prices === null || Array.isArray(prices)) {
    return fail(`${at}.realtime_pricing must be an object of USD prices`);
  }
  const names = Object.keys(prices);
  if (names.length === 0) fail(`${at}.realtime_pricing must name at least one price`);
  for (const [name, value] of Object.entries(prices)) {
    if (!(REALTIME_PRICE_FIELDS as readonly string[]).includes(name)) {
      fail(`${at}.realtime_pricing.${name} is not a known price`);
    }
    if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
      fail(`${at}.realtime_pricing.${name} must be a number >= 0`);
    }
    try {
      usdToMicros(value as number);
    } catch {
      fail(`${at}.realtime_pricing.${name} must have at most 6 decimal places`);
    }
  }
  if ("per_second_usd" in prices && names.length > 1) {
    fail(`${at}.realtime_pricing: per_second_usd cannot be combined with per-token prices`);
  }
}
