import type { SimContext } from "./context.ts";
import type { EndpointConfig } from "./knobs.ts";
import { embeddingList } from "./embeddings.ts";
import { hashString } from "./http-util.ts";
import { encodeMp4, encodePng, encodeWav } from "./media-encode.ts";
import {
  countTokens,
  lastUserText,
  messageText,
  promptTokensOfMessages,
  replyFor,
} from "./text-gen.ts";

/**
 * Worker handlers (runpod-api.md 4): input -> output, or an error string that makes the job
 * FAILED. Media outputs are real files (PNG, 24 kHz WAV, ISO-BMFF MP4).
 */

export type WorkerResult = { output: unknown } | { error: string; output?: unknown };

export function runWorker(
  ctx: SimContext,
  endpoint: EndpointConfig,
  jobId: string,
  input: any,
): WorkerResult {
  if (input === null || typeof input !== "object" || Array.isArray(input)) {
    return { error: "input must be an object" };
  }
  switch (endpoint.worker) {
    case "comfyui-image":
      return comfyui(input);
    case "sdxl":
      return sdxl(ctx, input);
    case "flux-public":
      return fluxPublic(ctx, jobId, input);
    case "kokoro":
      return kokoro(input);
    case "wan-t2v":
      return wan(ctx, jobId, input);
    case "vllm":
      return vllm(endpoint, input);
    case "infinity-embedding": {
      const body = typeof input.openai_route === "string" ? input.openai_input ?? {} : input;
      const made = embeddingList(
        body,
        endpoint.servedModelName ?? endpoint.id,
        ctx.knobs.embeddingDimensions,
      );
      return "list" in made ? { output: made.list } : { error: made.error };
    }
    case "realtime":
      // As on RunPod: a load-balancing endpoint is reached over its own URL, never the queue.
      return { error: "a load-balancing endpoint serves no queue jobs" };
  }
}

function seedOf(input: any, fallback: string): number {
  return Number.isInteger(input.seed) && input.seed >= 0 ? input.seed : hashString(fallback) % 1e9;
}

function dimension(value: unknown, fallback: number): number | undefined {
  if (value === undefined) return fallback;
  return Number.isInteger(value) && (value as number) >= 16 && (value as number) <= 4096
    ? value as number
    : undefined;
}

function comfyui(input: any): WorkerResult {
  const workflow = input.workflow;
  if (!workflow || typeof workflow !== "object") return { error: "Missing 'workflow' parameter" };
  let width = 512, height = 512, seed = 0, batch = 1;
  for (const node of Object.values<any>(workflow)) {
    const inputs = node?.inputs ?? {};
    if (Number.isInteger(inputs.width) && Number.isInteger(inputs.height)) {
      width = inputs.width;
      height = inputs.height;
      if (Number.isInteger(inputs.batch_size)) batch = Math.min(4, Math.max(1, inputs.batch_size));
    }
    if (Number.isInteger(inputs.seed)) seed = inputs.seed;
    else if (Number.isInteger(inputs.noise_seed)) seed = inputs.noise_seed;
  }
  if (!dimension(width, 512) || !dimension(height, 512)) {
    return { error: "Job processing failed", output: { details: ["invalid latent size"] } };
  }
  return {
    output: {
      images: Array.from({ length: batch }, (_, i) => ({
        filename: `ComfyUI_${String(i + 1).padStart(5, "0")}_.png`,
        type: "base64",
        data: encodePng(width, height, seed + i).toString("base64"),
      })),
    },
  };
}

function sdxl(ctx: SimContext, input: any): WorkerResult {
  if (typeof input.prompt !== "string" || input.prompt === "") {
    return { error: "prompt is required" };
  }
  const width = dimension(input.width, 1024);
  const height = dimension(input.height, 1024);
  if (!width || !height || width % 8 || height % 8) {
    return { error: "height and width must be multiples of 8" };
  }
  const count = input.num_images ?? 1;
  if (!Number.isInteger(count) || count < 1 || count > 2) {
    return { error: "num_images must be between 1 and 2" };
  }
  const seed = Number.isInteger(input.seed) ? input.seed : Math.floor(ctx.random() * 1e9);
  const images = Array.from(
    { length: count },
    (_, i) => `data:image/png;base64,${encodePng(width, height, seed + i).toString("base64")}`,
  );
  return { output: { images, image_url: images[0], seed } };
}

function fluxPublic(ctx: SimContext, jobId: string, input: any): WorkerResult {
  if (typeof input.prompt !== "string" || input.prompt === "") {
    return { error: "prompt is required" };
  }
  const width = input.width ?? 1024, height = input.height ?? 1024;
  for (const [name, v] of [["width", width], ["height", height]] as const) {
    if (!Number.isInteger(v) || v < 256 || v > 1536 || v % 64) {
      return { error: `${name} must be a multiple of 64 between 256 and 1536` };
    }
  }
  const steps = input.num_inference_steps ?? 4;
  if (!Number.isInteger(steps) || steps < 1 || steps > 8) {
    return { error: "num_inference_steps must be between 1 and 8" };
  }
  // The sim always produces PNG; image_format "jpeg" still gets a PNG file.
  const name = `${jobId}.png`;
  ctx.files.set(name, {
    contentType: "image/png",
    data: encodePng(width, height, seedOf(input, input.prompt)),
  });
  const cost = Math.round(0.0024 * (width * height) / 1e6 * 1e6) / 1e6;
  return { output: { image_url: `${ctx.baseUrl}/files/${name}`, cost } };
}

/** Seconds of speech for a text: ~15 characters per second at speed 1. */
export function speechSeconds(text: string, speed: number): number {
  return Math.max(0.25, (text.length / 15) / speed);
}

function kokoro(input: any): WorkerResult {
  const text = input.text;
  if (typeof text !== "string" || text.trim() === "") return { error: "text is required" };
  if (text.length > 5000) return { error: "text must be at most 5000 characters" };
  const speed = input.speed ?? 1;
  if (typeof speed !== "number" || speed < 0.5 || speed > 2) {
    return { error: "speed must be between 0.5 and 2.0" };
  }
  const wav = encodeWav(speechSeconds(text, speed), 24000, hashString(`${input.voice}`));
  return { output: { audio_base64: wav.toString("base64"), sample_rate: 24000 } };
}

function wan(ctx: SimContext, jobId: string, input: any): WorkerResult {
  if (typeof input.prompt !== "string" || input.prompt === "") {
    return { error: "prompt is required" };
  }
  const duration = input.duration ?? 5;
  if (typeof duration !== "number" || duration <= 0 || duration > 15) {
    return { error: "duration must be between 1 and 15 seconds" };
  }
  const size = /^(\d+)\*(\d+)$/.exec(String(input.size ?? "1280*720"));
  if (!size) return { error: "size must look like 1280*720" };
  const name = `${jobId}.mp4`;
  ctx.files.set(name, {
    contentType: "video/mp4",
    data: encodeMp4(duration, Number(size[1]), Number(size[2])),
  });
  return {
    output: {
      video_url: `${ctx.baseUrl}/files/${name}`,
      cost: Math.round(duration * 0.1 * 100) / 100,
    },
  };
}

/** worker-vllm native input: an OpenAI request by route, or messages/prompt + sampling_params. */
function vllm(endpoint: EndpointConfig, input: any): WorkerResult {
  const model = endpoint.servedModelName ?? endpoint.id;
  const workerError = (message: string) => ({
    error: JSON.stringify({ error: { message, type: "worker_error", code: null } }),
  });
  let body: any;
  let kind: "chat" | "text";
  if (typeof input.openai_route === "string") {
    if (input.openai_route === "/v1/models") {
      return {
        output: [{ object: "list", data: [{ id: model, object: "model", owned_by: "vllm" }] }],
      };
    }
    body = input.openai_input ?? {};
    kind = input.openai_route === "/v1/completions" ? "text" : "chat";
    if (!["/v1/chat/completions", "/v1/completions"].includes(input.openai_route)) {
      return workerError(`unsupported route ${input.openai_route}`);
    }
  } else {
    body = { ...input, ...(input.sampling_params ?? {}) };
    kind = Array.isArray(input.messages) ? "chat" : "text";
    if (kind === "text" && typeof input.prompt !== "string") {
      return workerError("input needs messages or prompt");
    }
  }
  const created = Math.floor(Date.now() / 1000);
  const maxTokens = body.max_tokens ?? body.max_completion_tokens;
  if (kind === "chat") {
    const messages = Array.isArray(body.messages) ? body.messages : [];
    const reply = replyFor(lastUserText(messages), maxTokens);
    const promptTokens = promptTokensOfMessages(messages);
    return {
      output: [{
        id: `chatcmpl-${hashString(JSON.stringify(messages)).toString(16)}`,
        object: "chat.completion",
        created,
        model,
        choices: [{
          index: 0,
          message: { role: "assistant", content: reply.tokens.join("") },
          logprobs: null,
          finish_reason: reply.finishReason,
        }],
        usage: {
          prompt_tokens: promptTokens,
          completion_tokens: reply.tokens.length,
          total_tokens: promptTokens + reply.tokens.length,
        },
      }],
    };
  }
  const prompt = messageText(body.prompt);
  const reply = replyFor(prompt, maxTokens);
  const promptTokens = countTokens(prompt);
  return {
    output: [{
      id: `cmpl-${hashString(prompt).toString(16)}`,
      object: "text_completion",
      created,
      model,
      choices: [{
        index: 0,
        text: reply.tokens.join(""),
        logprobs: null,
        finish_reason: reply.finishReason,
      }],
      usage: {
        prompt_tokens: promptTokens,
        completion_tokens: reply.tokens.length,
        total_tokens: promptTokens + reply.tokens.length,
      },
    }],
  };
}
