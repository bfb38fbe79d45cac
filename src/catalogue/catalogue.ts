import { Inject, Injectable } from "@nestjs/common";
import { readFileSync } from "node:fs";
import { ApiError } from "../common/api-error.ts";
import { type Micros, usdToMicros } from "../common/money.ts";
import { APP_CONFIG, type AppConfig, ConfigError } from "../config/config.ts";

export type ModelKind = "text" | "image" | "audio" | "video" | "embedding" | "realtime";
export type ModelWorker = "comfyui-image" | "sdxl" | "flux-public" | "kokoro" | "wan-t2v" | "vllm";

export const MODEL_KINDS: readonly ModelKind[] = [
  "text",
  "image",
  "audio",
  "video",
  "embedding",
  "realtime",
];
export const MODEL_WORKERS: readonly ModelWorker[] = [
  "comfyui-image",
  "sdxl",
  "flux-public",
  "kokoro",
  "wan-t2v",
  "vllm",
];

export interface ModelLimits {
  /** Images: smallest and largest side in pixels, and the step sizes must be a multiple of. */
  min_size?: number;
  max_size?: number;
  size_step?: number;
  /** Audio: longest input text. */
  max_chars?: number;
  /**
   * Text models at a flat price: the most tokens one request may ask for (`max_tokens`,
   * `max_completion_tokens`, `max_output_tokens`), also sent with a chat that sets none.
   */
  max_tokens?: number;
  /** Text: the most choices one request may ask for (`n`, and `best_of` on completions). */
  max_n?: number;
  /** Embeddings: the most inputs in one request, and the most characters across them. */
  max_inputs?: number;
  max_input_chars?: number;
}

const LIMIT_NAMES = [
  "min_size",
  "max_size",
  "size_step",
  "max_chars",
  "max_tokens",
  "max_n",
  "max_inputs",
  "max_input_chars",
];

/**
 * Bounds on what one flat-price request to a shared serverless endpoint may ask for, with the
 * defaults an entry gets when its `limits` leave one out.
 */
export interface ServingLimits {
  maxTokens: number;
  maxN: number;
  maxInputs: number;
  /** Characters across every input; a token id counts as 4 (about one token's worth). */
  maxInputChars: number;
  /** Non-OpenAI parameters (vLLM's extras) the shared endpoint may receive. */
  extraParameters: ReadonlySet<string>;
}

export const DEFAULT_SERVING_LIMITS = {
  maxTokens: 4_096,
  maxN: 1,
  maxInputs: 256,
  maxInputChars: 262_144,
  /** Sampling knobs that change no amount of work; anything else must be listed per entry. */
  extraParameters: ["top_k", "min_p", "repetition_penalty"] as readonly string[],
} as const;

/** The entry's serving limits with the defaults filled in. */
export function servingLimits(model: CatalogueModel): ServingLimits {
  return Object.freeze({
    maxTokens: model.limits?.max_tokens ?? DEFAULT_SERVING_LIMITS.maxTokens,
    maxN: model.limits?.max_n ?? DEFAULT_SERVING_LIMITS.maxN,
    maxInputs: model.limits?.max_inputs ?? DEFAULT_SERVING_LIMITS.maxInputs,
    maxInputChars: model.limits?.max_input_chars ?? DEFAULT_SERVING_LIMITS.maxInputChars,
    extraParameters: new Set(model.extra_parameters ?? DEFAULT_SERVING_LIMITS.extraParameters),
  });
}

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

/** One catalogue entry, in the MODELS_FILE shape (snake_case, USD price per request). */
export interface CatalogueModel {
  id: string;
  kind: ModelKind;
  runpod_endpoint_id: string;
  /** The model name the upstream server expects (vLLM's --served-model-name). */
  served_model_name?: string;
  /** Pay-per-request price in USD. */
  price_usd: number;
  worker?: ModelWorker;
  limits?: ModelLimits;
  /**
   * Text and embedding models: parameters beyond OpenAI's own that reach the shared endpoint
   * (default top_k, min_p, repetition_penalty); a request with any other extra is refused.
   */
  extra_parameters?: string[];
  supports_negative_prompt?: boolean;
  /** `realtime` models: served on a RunPod load-balancing endpoint, priced by these. */
  realtime_pricing?: RealtimePricingUsd;
  estimated_time_ms?: number;
  default_voice?: string;
}

/**
 * The built-in catalogue: the pay-per-request prices of the product documentation. Endpoint
 * ids default to the model id, which is what the local RunPod simulator serves.
 */
export const BUILT_IN_MODELS: readonly CatalogueModel[] = [
  {
    id: "flux-schnell",
    kind: "image",
    runpod_endpoint_id: "flux-schnell",
    price_usd: 0.008,
    // RunPod's Flux public-endpoint contract: prompt in, image_url out (runpod-api.md section 4).
    worker: "flux-public",
    limits: { min_size: 256, max_size: 1536, size_step: 64 },
    supports_negative_prompt: false,
    estimated_time_ms: 20_000,
  },
  {
    id: "flux-dev",
    kind: "image",
    runpod_endpoint_id: "flux-dev",
    price_usd: 0.02,
    worker: "comfyui-image",
    limits: { min_size: 256, max_size: 1536, size_step: 64 },
    supports_negative_prompt: false,
    estimated_time_ms: 30_000,
  },
  {
    id: "sdxl",
    kind: "image",
    runpod_endpoint_id: "sdxl",
    price_usd: 0.005,
    worker: "sdxl",
    limits: { min_size: 512, max_size: 1536, size_step: 8 },
    supports_negative_prompt: true,
    estimated_time_ms: 15_000,
  },
  {
    id: "zimage",
    kind: "image",
    runpod_endpoint_id: "zimage",
    price_usd: 0.008,
    worker: "comfyui-image",
    limits: { min_size: 256, max_size: 2048, size_step: 64 },
    supports_negative_prompt: true,
    estimated_time_ms: 10_000,
  },
  {
    id: "kokoro",
    kind: "audio",
    runpod_endpoint_id: "kokoro",
    price_usd: 0.002,
    worker: "kokoro",
    limits: { max_chars: 5_000 },
    estimated_time_ms: 5_000,
    default_voice: "af_heart",
  },
  {
    id: "chatterbox",
    kind: "audio",
    runpod_endpoint_id: "chatterbox",
    price_usd: 0.005,
    worker: "kokoro",
    limits: { max_chars: 5_000 },
    estimated_time_ms: 8_000,
    default_voice: "default",
  },
  {
    id: "wan-t2v",
    kind: "video",
    runpod_endpoint_id: "wan-t2v",
    price_usd: 0.3,
    worker: "wan-t2v",
    estimated_time_ms: 120_000,
  },
  {
    id: "qwen3-8b",
    kind: "text",
    runpod_endpoint_id: "qwen3-8b",
    served_model_name: "Qwen/Qwen3-8B",
    price_usd: 0.01,
    worker: "vllm",
    estimated_time_ms: 30_000,
  },
  {
    // A speech-to-speech server speaking the realtime protocol on a load-balancing endpoint.
    id: "s2s-realtime",
    kind: "realtime",
    runpod_endpoint_id: "s2s-realtime",
    served_model_name: "speech-to-speech",
    price_usd: 0,
    realtime_pricing: {
      text_input_per_million_usd: 4,
      text_output_per_million_usd: 16,
      audio_input_per_million_usd: 32,
      audio_output_per_million_usd: 64,
      cached_input_per_million_usd: 0.4,
    },
  },
];

const MODEL_ID = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$/;
const PARAMETER_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

/**
 * Validates a catalogue document (the parsed MODELS_FILE). Every problem is a ConfigError
 * whose message names `source` and the offending entry, so a bad file stops the start.
 */
export function parseCatalogue(document: unknown, source = "MODELS_FILE"): CatalogueModel[] {
  const fail = (detail: string): never => {
    throw new ConfigError(`${source}: ${detail}`);
  };
  if (
    typeof document !== "object" || document === null || !Array.isArray((document as any).models)
  ) {
    fail(`must be a JSON object {"models":[...]}`);
  }
  const entries = (document as { models: unknown[] }).models;
  if (entries.length === 0) fail("models must not be empty");
  const seen = new Set<string>();
  return entries.map((entry, index) => {
    const where = `models[${index}]`;
    if (typeof entry !== "object" || entry === null) return fail(`${where} must be an object`);
    const model = entry as Record<string, unknown>;
    const id = model.id;
    if (typeof id !== "string" || !MODEL_ID.test(id)) {
      return fail(`${where}.id must be a model id string`);
    }
    const at = `${where} (${id})`;
    if (seen.has(id)) fail(`${at}: duplicate id`);
    seen.add(id);
    if (!MODEL_KINDS.includes(model.kind as ModelKind)) {
      fail(`${at}.kind must be one of ${MODEL_KINDS.join(", ")}`);
    }
    const endpoint = model.runpod_endpoint_id ?? id;
    if (typeof endpoint !== "string" || endpoint.length === 0) {
      fail(`${at}.runpod_endpoint_id must be a string`);
    }
    const price = model.price_usd;
    if (typeof price !== "number" || !Number.isFinite(price) || price < 0) {
      fail(`${at}.price_usd must be a number >= 0`);
    }
    try {
      usdToMicros(price as number);
    } catch {
      fail(`${at}.price_usd must have at most 6 decimal places`);
    }
    optional(model, "served_model_name", "string", at, fail);
    optional(model, "supports_negative_prompt", "boolean", at, fail);
    optional(model, "default_voice", "string", at, fail);
    if (model.worker !== undefined && !MODEL_WORKERS.includes(model.worker as ModelWorker)) {
      fail(`${at}.worker must be one of ${MODEL_WORKERS.join(", ")}`);
    }
    if (model.estimated_time_ms !== undefined && !isPositiveInteger(model.estimated_time_ms)) {
      fail(`${at}.estimated_time_ms must be a positive integer`);
    }
    if (model.limits !== undefined) {
      if (typeof model.limits !== "object" || model.limits === null) {
        fail(`${at}.limits must be an object`);
      }
      for (const [name, value] of Object.entries(model.limits as object)) {
        if (!LIMIT_NAMES.includes(name)) {
          fail(`${at}.limits.${name} is not a known limit`);
        }
        if (!isPositiveInteger(value)) fail(`${at}.limits.${name} must be a positive integer`);
      }
      const limits = model.limits as ModelLimits;
      if (
        limits.min_size !== undefined && limits.max_size !== undefined &&
        limits.min_size > limits.max_size
      ) {
        fail(`${at}.limits.min_size must not exceed max_size`);
      }
    }
    if (model.realtime_pricing !== undefined || model.kind === "realtime") {
      checkRealtimePricing(model, at, fail);
    }
    if (model.extra_parameters !== undefined) {
      const names = model.extra_parameters;
      if (
        !Array.isArray(names) ||
        !names.every((name) => typeof name === "string" && PARAMETER_NAME.test(name))
      ) {
        fail(`${at}.extra_parameters must be an array of parameter names`);
      }
    }
    return { ...(model as unknown as CatalogueModel), runpod_endpoint_id: endpoint as string };
  });
}

/** A `realtime` entry needs its prices; only a `realtime` entry may have them. */
function checkRealtimePricing(
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

function optional(
  model: Record<string, unknown>,
  field: string,
  type: "string" | "boolean",
  at: string,
  fail: (detail: string) => never,
): void {
  if (model[field] !== undefined && typeof model[field] !== type) {
    fail(`${at}.${field} must be a ${type}`);
  }
}

function isPositiveInteger(value: unknown): boolean {
  return typeof value === "number" && Number.isSafeInteger(value) && value > 0;
}

/** Reads and validates MODELS_FILE, or returns the built-in catalogue when it is not set. */
export function loadCatalogue(modelsFile?: string): CatalogueModel[] {
  if (!modelsFile) return BUILT_IN_MODELS.map((model) => structuredClone(model));
  let text: string;
  try {
    text = readFileSync(modelsFile, "utf8");
  } catch (error) {
    throw new ConfigError(`MODELS_FILE: cannot read ${modelsFile} (${(error as Error).message})`);
  }
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(
      `MODELS_FILE: ${modelsFile} is not valid JSON (${(error as Error).message})`,
    );
  }
  return parseCatalogue(document, `MODELS_FILE ${modelsFile}`);
}

/** The one catalogue of models and prices. Prices are integer micro-dollars inside. */
@Injectable()
export class ModelCatalogue {
  private readonly byId: Map<string, CatalogueModel>;
  private readonly prices: Map<string, Micros>;
  private readonly serving: Map<string, ServingLimits>;

  constructor(@Inject(APP_CONFIG) config: Pick<AppConfig, "modelsFile">) {
    const models = loadCatalogue(config.modelsFile);
    this.byId = new Map(models.map((model) => [model.id, Object.freeze(model)]));
    this.prices = new Map(models.map((model) => [model.id, usdToMicros(model.price_usd)]));
    this.serving = new Map(models.map((model) => [model.id, servingLimits(model)]));
  }

  /** The model, or undefined when the catalogue has no such id. */
  get(id: string): CatalogueModel | undefined {
    return this.byId.get(id);
  }

  list(kind?: ModelKind): CatalogueModel[] {
    const all = [...this.byId.values()];
    return kind ? all.filter((model) => model.kind === kind) : all;
  }

  /** A `realtime` model's prices in micro-dollars; undefined for any other model. */
  realtimePricing(id: string): RealtimePricing | undefined {
    const model = this.byId.get(id);
    return model ? realtimePricing(model) : undefined;
  }

  /** What one request to the model's shared endpoint may ask for (defaults filled in). */
  servingLimits(id: string): ServingLimits | undefined {
    return this.serving.get(id);
  }

  /** Price per request in micro-dollars; a 404 `model_not_found` for an unknown id. */
  priceMicros(id: string): Micros {
    const price = this.prices.get(id);
    if (price === undefined) {
      throw ApiError.notFound(`The model '${id}' does not exist`, "model_not_found", "model");
    }
    return price;
  }
}
