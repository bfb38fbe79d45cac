import { type CatalogueModel, servingLimits } from "../catalogue/catalogue.ts";
import { ApiError } from "../common/api-error.ts";
import {
  type Body,
  invalid,
  optionalIntegerBetween,
  optionalNumberBetween,
} from "../common/body-fields.ts";
import type {
  AudioRequest,
  GenerationRequest,
  ImageRequest,
  TextRequest,
  VideoRequest,
} from "./generation.request.ts";
import type { GenerationKind } from "./job.events.ts";
import { workerFormatOf } from "./worker-formats.ts";

/**
 * Request validation for the generation endpoints, with the documented limits or the model's
 * own limits from the catalogue. Every refusal is a 400 (404 for an unknown model) whose `param`
 * names the field.
 */

export const DEFAULT_IMAGE_SIZE = 1024;
export const DEFAULT_SIZE_LIMITS = { min_size: 256, max_size: 1536, size_step: 64 };
export const MAX_AUDIO_CHARS = 5_000;
export const MAX_PROMPT_CHARS = 20_000;
export const DEFAULT_VOICE = "af_heart";

const ALLOWED: Record<GenerationKind, readonly string[]> = {
  image: ["model", "prompt", "width", "height", "negative_prompt", "steps", "seed"],
  audio: ["model", "text", "voice", "speed"],
  video: ["model", "prompt", "negative_prompt", "duration", "size", "seed"],
  text: ["model", "prompt", "max_tokens", "temperature"],
};

export interface ModelLookup {
  get(id: string): CatalogueModel | undefined;
}

/** Resolves the model for an endpoint of `kind`: 404 when unknown, 400 when another kind. */
export function resolveModel(
  kind: GenerationKind,
  body: Body,
  catalogue: ModelLookup,
) {
  const id = body.model;
  if (id === undefined || id === null || id === "") {
    throw invalid("model", "Missing required parameter: 'model'.", "missing_required_parameter");
  }
  if (typeof id !== "string") throw invalid("model", "Invalid 'model': expected a string.");
  const model = catalogue.get(id);
  if (!model) {
    throw ApiError.notFound(`The model '${id}' does not exist`, "model_not_found", "model");
  }
  if (model.kind !== kind) {
    throw invalid(
      "model",
      `Model '${id}' is not a${
        kind === "image" || kind === "audio" ? "n" : ""
      } ${kind} model and cannot be used with /generate/${kind}`,
      "invalid_model_type",
    );
  }
  return model;
}

export function parseGenerationRequest(
  kind: GenerationKind,
  raw: unknown,
  catalogue: ModelLookup,
): { request: GenerationRequest; model: CatalogueModel } {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw ApiError.badRequest("The request body must be a JSON object.", null, "invalid_body");
  }
  const body = raw as Body;
  const model = resolveModel(kind, body, catalogue);
  for (const key of Object.keys(body)) {
    if (!ALLOWED[kind].includes(key)) {
      throw invalid(key, `Unrecognized request argument supplied: ${key}`, "unknown_parameter");
    }
  }
  switch (kind) {
    case "image":
      return { request: imageRequest(body, model), model };
    case "audio":
      return { request: audioRequest(body, model), model };
    case "video":
      return { request: videoRequest(body, model), model };
    case "text":
      return { request: textRequest(body, model), model };
  }
}

function requiredText(body: Body, name: string, max: number): string {
  const value = body[name];
  if (value === undefined || value === null) {
    throw invalid(name, `Missing required parameter: '${name}'.`, "missing_required_parameter");
  }
  if (typeof value !== "string" || value.trim() === "") {
    throw invalid(name, `Invalid '${name}': expected a non-empty string.`);
  }
  if (value.length > max) {
    throw invalid(
      name,
      `Invalid '${name}': at most ${max} characters (got ${value.length}).`,
      "string_too_long",
    );
  }
  return value;
}

function negativePrompt(body: Body, model: CatalogueModel): string | undefined {
  const value = body.negative_prompt;
  if (value === undefined || value === null) return undefined;
  if (!model.supports_negative_prompt) {
    throw invalid(
      "negative_prompt",
      `'negative_prompt' is not supported by model '${model.id}'.`,
      "unsupported_parameter",
    );
  }
  if (typeof value !== "string" || value.length > MAX_PROMPT_CHARS) {
    throw invalid(
      "negative_prompt",
      `Invalid 'negative_prompt': expected a string of at most ${MAX_PROMPT_CHARS} characters.`,
    );
  }
  return value;
}

const MAX_SEED = 2 ** 32 - 1;

function imageRequest(body: Body, model: CatalogueModel): ImageRequest {
  const prompt = requiredText(body, "prompt", MAX_PROMPT_CHARS);
  const limits = { ...DEFAULT_SIZE_LIMITS, ...model.limits };
  const size = (name: "width" | "height"): number => {
    const value = body[name];
    if (value === undefined || value === null) return DEFAULT_IMAGE_SIZE;
    if (
      typeof value !== "number" || !Number.isInteger(value) || value < limits.min_size ||
      value > limits.max_size || value % limits.size_step !== 0
    ) {
      throw invalid(
        name,
        `Invalid '${name}': must be a multiple of ${limits.size_step} from ${limits.min_size} to ${limits.max_size} for model '${model.id}'.`,
      );
    }
    return value;
  };
  const width = size("width");
  const height = size("height");
  const negative = negativePrompt(body, model);
  const steps = optionalIntegerBetween(body, "steps", 1, workerFormatOf(model).maxSteps ?? 150);
  const seed = optionalIntegerBetween(body, "seed", 0, MAX_SEED);
  return {
    kind: "image",
    model: model.id,
    prompt,
    width,
    height,
    ...(negative !== undefined ? { negativePrompt: negative } : {}),
    ...(steps !== undefined ? { steps } : {}),
    ...(seed !== undefined ? { seed } : {}),
  };
}

function audioRequest(body: Body, model: CatalogueModel): AudioRequest {
  const text = requiredText(body, "text", model.limits?.max_chars ?? MAX_AUDIO_CHARS);
  const speed = optionalNumberBetween(body, "speed", 0.5, 2.0) ?? 1.0;
  let voice = model.default_voice ?? DEFAULT_VOICE;
  if (body.voice !== undefined && body.voice !== null) {
    if (typeof body.voice !== "string" || !/^[A-Za-z0-9_.-]{1,64}$/.test(body.voice)) {
      throw invalid("voice", "Invalid 'voice': expected a voice id (letters, digits, _ . -).");
    }
    voice = body.voice;
  }
  return { kind: "audio", model: model.id, text, voice, speed };
}

function videoRequest(body: Body, model: CatalogueModel): VideoRequest {
  const prompt = requiredText(body, "prompt", MAX_PROMPT_CHARS);
  const negative = negativePrompt(body, model);
  const duration = optionalIntegerBetween(body, "duration", 1, 10) ?? 5;
  let size: string | undefined;
  if (body.size !== undefined && body.size !== null) {
    const match = typeof body.size === "string" ? /^(\d{3,4})\*(\d{3,4})$/.exec(body.size) : null;
    if (!match) throw invalid("size", "Invalid 'size': expected WIDTH*HEIGHT, e.g. 1280*720.");
    size = body.size as string;
  }
  const seed = optionalIntegerBetween(body, "seed", 0, MAX_SEED);
  return {
    kind: "video",
    model: model.id,
    prompt,
    duration,
    ...(negative !== undefined ? { negativePrompt: negative } : {}),
    ...(size !== undefined ? { size } : {}),
    ...(seed !== undefined ? { seed } : {}),
  };
}

function textRequest(body: Body, model: CatalogueModel): TextRequest {
  const prompt = requiredText(body, "prompt", 100_000);
  // A flat price per job buys at most the model's serving limit, as on the OpenAI routes.
  const tokenLimit = servingLimits(model).maxTokens;
  const maxTokens = optionalIntegerBetween(body, "max_tokens", 1, tokenLimit) ?? tokenLimit;
  const temperature = optionalNumberBetween(body, "temperature", 0, 2);
  return {
    kind: "text",
    model: model.id,
    prompt,
    maxTokens,
    ...(temperature !== undefined ? { temperature } : {}),
  };
}

/** What JobSubmitted records about a request: every parameter, long texts as their length. */
export function parameterSummary(request: GenerationRequest): Record<string, unknown> {
  const summary: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(request)) {
    if (key === "kind" || key === "model") continue;
    if (key === "prompt" || key === "text" || key === "negativePrompt") {
      summary[`${key}Chars`] = (value as string).length;
    } else summary[key] = value;
  }
  return summary;
}
