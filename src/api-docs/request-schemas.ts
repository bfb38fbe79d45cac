import type { JsonSchema } from "./validator-schemas.ts";

/**
 * Request bodies of the routes validated by hand (pass-through OpenAI bodies, generation,
 * deployments): no DTO class describes them, so the controllers name one of these in
 * `@ApiBody({ schema })`. The validators stay the authority; these say what a caller may send.
 */

const text = (description: string, maxLength?: number): JsonSchema => ({
  type: "string",
  minLength: 1,
  ...(maxLength ? { maxLength } : {}),
  description,
});

const MODEL = text("A model id from `GET /v1/models` (a deployment name, or a catalogue model).");

/** OpenAI routes accept the rest of OpenAI's parameters and pass them to the upstream. */
const openAi = (required: string[], properties: Record<string, JsonSchema>): JsonSchema => ({
  type: "object",
  required,
  properties: { model: MODEL, ...properties },
  additionalProperties: true,
});

export const CHAT_COMPLETION_REQUEST = openAi(["model", "messages"], {
  messages: {
    type: "array",
    minItems: 1,
    items: {
      type: "object",
      required: ["role"],
      properties: {
        role: { enum: ["system", "developer", "user", "assistant", "tool"] },
        content: { type: ["string", "array", "null"] },
      },
    },
  },
  stream: { type: "boolean", description: "Server-sent events, ending with `data: [DONE]`." },
  max_tokens: { type: "integer", minimum: 1 },
  temperature: { type: "number", minimum: 0, maximum: 2 },
});

export const COMPLETION_REQUEST = openAi(["model", "prompt"], {
  prompt: { type: ["string", "array"] },
  stream: { type: "boolean" },
  max_tokens: { type: "integer", minimum: 1 },
});

export const EMBEDDINGS_REQUEST = openAi(["model", "input"], {
  input: { type: ["string", "array"], description: "Text, texts, or token arrays." },
  encoding_format: { enum: ["float", "base64"] },
});

export const RESPONSES_REQUEST = openAi(["model", "input"], {
  input: { type: ["string", "array"] },
  instructions: { type: "string" },
  stream: { type: "boolean" },
  max_output_tokens: { type: "integer", minimum: 1 },
});

const PROMPT = text("What to generate.", 20_000);
const SEED = { type: "integer", minimum: 0, maximum: 2 ** 32 - 1 };

const generation = (required: string[], properties: Record<string, JsonSchema>): JsonSchema => ({
  type: "object",
  required: ["model", ...required],
  properties: { model: text("A catalogue model of this kind."), ...properties },
  additionalProperties: false,
});

export const GENERATE_IMAGE_REQUEST = generation(["prompt"], {
  prompt: PROMPT,
  negative_prompt: { type: "string", maxLength: 20_000 },
  width: { type: "integer", description: "A multiple of the model's size step (default 1024)." },
  height: { type: "integer", description: "A multiple of the model's size step (default 1024)." },
  steps: { type: "integer", minimum: 1 },
  seed: SEED,
});

export const GENERATE_AUDIO_REQUEST = generation(["text"], {
  text: text("What to say (at most the model's `max_chars`, default 5000).", 5_000),
  voice: { type: "string", pattern: "^[A-Za-z0-9_.-]{1,64}$", default: "af_heart" },
  speed: { type: "number", minimum: 0.5, maximum: 2, default: 1 },
});

export const GENERATE_VIDEO_REQUEST = generation(["prompt"], {
  prompt: PROMPT,
  negative_prompt: { type: "string", maxLength: 20_000 },
  duration: { type: "integer", minimum: 1, maximum: 10, default: 5 },
  size: { type: "string", pattern: "^\\d{3,4}\\*\\d{3,4}$", examples: ["1280*720"] },
  seed: SEED,
});

export const GENERATE_TEXT_REQUEST = generation(["prompt"], {
  prompt: PROMPT,
  max_tokens: { type: "integer", minimum: 1 },
  temperature: { type: "number", minimum: 0, maximum: 2 },
});

const NAME = {
  type: "string",
  pattern: "^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$",
  description: "Unique per account; what `model` names in OpenAI calls.",
};

export const CREATE_DEPLOYMENT_REQUEST: JsonSchema = {
  oneOf: [
    {
      title: "RunPod pod running Ollama",
      type: "object",
      required: ["model"],
      properties: {
        provider: { const: "runpod", default: "runpod" },
        model: text("An Ollama model, e.g. `llama3.2:3b`."),
        name: NAME,
        gpu_type_id: text("One of RUNPOD_ALLOWED_GPUS (default RUNPOD_DEFAULT_GPU)."),
      },
      additionalProperties: false,
    },
    {
      title: "External OpenAI-compatible server",
      type: "object",
      required: ["provider", "name", "model", "base_url"],
      properties: {
        provider: { const: "external" },
        name: NAME,
        model: text("The model id the upstream knows."),
        base_url: { type: "string", format: "uri" },
        api_key: { type: "string", description: "Stored encrypted; never returned." },
      },
      additionalProperties: false,
    },
  ],
};
