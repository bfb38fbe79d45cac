import { Inject, Injectable } from "@nestjs/common";
import { readFileSync } from "node:fs";
import { ApiError } from "../common/api-error.ts";
import { type Micros, usdToMicros } from "../common/money.ts";
import { APP_CONFIG, type AppConfig, ConfigError } from "../config/config.ts";
import { BUILT_IN_MODELS } from "./built-in-models.ts";
import {
  checkRealtimePricing,
  type RealtimePricing,
  realtimePricing,
  type RealtimePricingUsd,
} from "./realtime-pricing.ts";
import { catalogueNames } from "./catalogue-names.ts";
import { withWorkerDefaults } from "./worker-defaults.ts";

export { BUILT_IN_MODELS };
export {
  REALTIME_PRICE_FIELDS,
  type RealtimePricing,
  realtimePricing,
  type RealtimePricingUsd,
} from "./realtime-pricing.ts";

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

/** One catalogue entry, in the MODELS_FILE shape (snake_case, USD price per request). */
export interface CatalogueModel {
  id: string;
  kind: ModelKind;
  runpod_endpoint_id: string;
  /**
   * The model name the upstream server expects (vLLM's --served-model-name, usually the Hugging
   * Face id). Clients may also send it as `model`, as on RunPod's own vLLM route.
   */
  served_model_name?: string;
  /** Further names clients may send as `model` (e.g. an OpenAI name the entry stands in for). */
  aliases?: string[];
  /** Pay-per-request price in USD. */
  price_usd: number;
  /** The RunPod worker; capabilities and limits the entry leaves out come from it. */
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

const MODEL_ID = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$/;
const MAX_ALIASES = 16;
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
  const models = entries.map((entry, index) => {
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
    if (
      model.aliases !== undefined &&
      (!Array.isArray(model.aliases) || model.aliases.length > MAX_ALIASES ||
        !model.aliases.every((name) => typeof name === "string" && MODEL_ID.test(name)))
    ) {
      fail(`${at}.aliases must be an array of at most ${MAX_ALIASES} model names`);
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
    const parsed = {
      ...(model as unknown as CatalogueModel),
      runpod_endpoint_id: endpoint as string,
    };
    return withWorkerDefaults(parsed, at, fail);
  });
  // Every name (id, served name, alias) must lead to one model: refused here, not guessed later.
  catalogueNames(models, fail);
  return models;
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
  if (!modelsFile) {
    return parseCatalogue({ models: structuredClone(BUILT_IN_MODELS) }, "built-in catalogue");
  }
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
  /** Served (Hugging Face) names and aliases, each unique (checked at load). */
  private readonly byName: Map<string, CatalogueModel>;
  private readonly prices: Map<string, Micros>;
  private readonly serving: Map<string, ServingLimits>;

  constructor(@Inject(APP_CONFIG) config: Pick<AppConfig, "modelsFile">) {
    const models = loadCatalogue(config.modelsFile);
    this.byId = new Map(models.map((model) => [model.id, Object.freeze(model)]));
    this.byName = new Map(
      [...catalogueNames(models, (detail) => {
        throw new ConfigError(detail);
      })].map(([name, id]) => [name, this.byId.get(id)!]),
    );
    this.prices = new Map(models.map((model) => [model.id, usdToMicros(model.price_usd)]));
    this.serving = new Map(models.map((model) => [model.id, servingLimits(model)]));
  }

  /**
   * The model named `name`: its id, its served (Hugging Face) name or an alias; undefined when
   * the catalogue has no such model. Callers key prices and routes by the entry's `id`.
   */
  get(name: string): CatalogueModel | undefined {
    return this.byId.get(name) ?? this.byName.get(name);
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
