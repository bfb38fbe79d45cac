import type { CatalogueModel, ModelWorker } from "../catalogue/catalogue.ts";
import type { GenerationRequest } from "./generation.request.ts";

/**
 * Worker formats (runpod-api.md section 4): what each RunPod worker takes as `input` and how
 * its `output` becomes files. A new model is a catalogue entry naming one of these workers;
 * a new worker is one entry in WORKER_FORMATS.
 */

/** Where an output file's bytes are: in the output itself, or at a URL to download. */
export type OutputSource = { base64: string } | { url: string };

export interface OutputFile {
  source: OutputSource;
  filename: string;
  contentType: string;
}

export interface WorkerResult {
  files: OutputFile[];
  text?: string;
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
  sampleRate?: number;
}

export class WorkerOutputError extends Error {
  override readonly name = "WorkerOutputError";
}

export interface WorkerFormat {
  /** Largest `steps` the worker accepts (validation refuses more). */
  maxSteps?: number;
  toInput(request: GenerationRequest, model: CatalogueModel): Record<string, unknown>;
  fromOutput(output: unknown, runpodJobId: string): WorkerResult;
}

/** A ComfyUI API-format text-to-image graph (worker-comfyui takes the exported workflow). */
function comfyWorkflow(request: GenerationRequest & { kind: "image" }): Record<string, unknown> {
  return {
    "4": { class_type: "CheckpointLoaderSimple", inputs: { ckpt_name: "model.safetensors" } },
    "5": {
      class_type: "EmptyLatentImage",
      inputs: { width: request.width, height: request.height, batch_size: 1 },
    },
    "6": { class_type: "CLIPTextEncode", inputs: { text: request.prompt, clip: ["4", 1] } },
    "7": {
      class_type: "CLIPTextEncode",
      inputs: { text: request.negativePrompt ?? "", clip: ["4", 1] },
    },
    "3": {
      class_type: "KSampler",
      inputs: {
        seed: request.seed ?? 0,
        steps: request.steps ?? 20,
        cfg: 1,
        sampler_name: "euler",
        scheduler: "simple",
        denoise: 1,
        model: ["4", 0],
        positive: ["6", 0],
        negative: ["7", 0],
        latent_image: ["5", 0],
      },
    },
    "8": { class_type: "VAEDecode", inputs: { samples: ["3", 0], vae: ["4", 2] } },
    "9": { class_type: "SaveImage", inputs: { filename_prefix: "ComfyUI", images: ["8", 0] } },
  };
}

function asImage(request: GenerationRequest): GenerationRequest & { kind: "image" } {
  if (request.kind !== "image") throw new Error(`an image worker got a ${request.kind} request`);
  return request;
}

function defined(values: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(values).filter(([, value]) => value !== undefined));
}

function record(output: unknown): Record<string, any> {
  if (output === null || typeof output !== "object" || Array.isArray(output)) {
    throw new WorkerOutputError("the worker's output is not an object");
  }
  return output as Record<string, any>;
}

/** `data:image/png;base64,...`, an http(s) URL, or bare base64. */
function imageSource(value: unknown): OutputSource {
  if (typeof value !== "string" || value === "") throw new WorkerOutputError("empty image entry");
  const dataUri = /^data:[^;,]+;base64,(.*)$/s.exec(value);
  if (dataUri) return { base64: dataUri[1] };
  if (/^https?:\/\//i.test(value)) return { url: value };
  if (/^[A-Za-z0-9+/=\r\n]+$/.test(value)) return { base64: value };
  throw new WorkerOutputError("an image entry is neither base64, a data URI nor an http(s) URL");
}

function imageFiles(output: unknown, runpodJobId: string): OutputFile[] {
  const body = record(output);
  const files: OutputFile[] = [];
  if (Array.isArray(body.images)) {
    body.images.forEach((entry: unknown, index: number) => {
      const name = `output_${String(index + 1).padStart(5, "0")}_.png`;
      if (entry !== null && typeof entry === "object") {
        // worker-comfyui 5.x: {filename, type: "base64" | "s3_url", data}
        const image = entry as { filename?: unknown; type?: unknown; data?: unknown };
        const source: OutputSource = image.type === "s3_url"
          ? { url: String(image.data) }
          : imageSource(image.data);
        files.push({
          source,
          filename: typeof image.filename === "string" ? image.filename : name,
          contentType: "image/png",
        });
      } else files.push({ source: imageSource(entry), filename: name, contentType: "image/png" });
    });
  } else if (typeof body.image_url === "string") {
    // Flux public endpoint: {image_url, cost}
    files.push({
      source: imageSource(body.image_url),
      filename: `${runpodJobId}.png`,
      contentType: "image/png",
    });
  }
  if (files.length === 0) throw new WorkerOutputError("the worker returned no image");
  return files;
}

const comfyuiImage: WorkerFormat = {
  toInput: (request) => ({ workflow: comfyWorkflow(asImage(request)) }),
  fromOutput: (output, id) => ({ files: imageFiles(output, id) }),
};

/** Prompt-in, image-out workers (SDXL, Flux): the same input, plus each worker's own fields. */
function promptImageWorker(maxSteps: number, extra: Record<string, unknown>): WorkerFormat {
  return {
    maxSteps,
    toInput: (request) => {
      const image = asImage(request);
      return defined({
        prompt: image.prompt,
        negative_prompt: image.negativePrompt,
        width: image.width,
        height: image.height,
        seed: image.seed,
        num_inference_steps: image.steps,
        ...extra,
      });
    },
    fromOutput: (output, id) => ({ files: imageFiles(output, id) }),
  };
}

const sdxl = promptImageWorker(150, { num_images: 1 });
const fluxPublic = promptImageWorker(8, { image_format: "png" });

const kokoro: WorkerFormat = {
  toInput: (request) => {
    if (request.kind !== "audio") throw new Error(`the TTS worker got a ${request.kind} request`);
    return { text: request.text, voice: request.voice, speed: request.speed };
  },
  fromOutput: (output) => {
    const body = record(output);
    const audio = body.audio_base64 ?? body.audio;
    if (typeof audio !== "string" || audio === "") {
      throw new WorkerOutputError("the worker returned no audio_base64");
    }
    return {
      files: [{ source: imageSource(audio), filename: "audio.wav", contentType: "audio/wav" }],
      sampleRate: typeof body.sample_rate === "number" ? body.sample_rate : 24_000,
    };
  },
};

const wanT2v: WorkerFormat = {
  toInput: (request) => {
    if (request.kind !== "video") throw new Error(`the video worker got a ${request.kind} request`);
    return defined({
      prompt: request.prompt,
      negative_prompt: request.negativePrompt,
      duration: request.duration,
      size: request.size,
      seed: request.seed ?? -1,
    });
  },
  fromOutput: (output, id) => {
    const body = record(output);
    // Public endpoint: video_url; community workers: video_base64 / video_b64.
    const value = body.video_url ?? body.video_base64 ?? body.video_b64;
    if (typeof value !== "string" || value === "") {
      throw new WorkerOutputError("the worker returned no video");
    }
    return {
      files: [{ source: imageSource(value), filename: `${id}.mp4`, contentType: "video/mp4" }],
    };
  },
};

const vllm: WorkerFormat = {
  toInput: (request) => {
    if (request.kind !== "text") throw new Error(`the text worker got a ${request.kind} request`);
    return {
      prompt: request.prompt,
      sampling_params: defined({
        max_tokens: request.maxTokens,
        temperature: request.temperature,
      }),
    };
  },
  fromOutput: (output) => {
    // worker-vllm returns a list with one entry per yield (aggregated stream).
    const first = Array.isArray(output) ? output[0] : output;
    const body = record(first);
    const choice = Array.isArray(body.choices) ? body.choices[0] : undefined;
    let text: unknown = choice?.text ?? choice?.message?.content;
    if (text === undefined && Array.isArray(choice?.tokens)) text = choice.tokens.join("");
    if (typeof text !== "string") throw new WorkerOutputError("the worker returned no text");
    const usage = body.usage && typeof body.usage.total_tokens === "number"
      ? {
        prompt_tokens: body.usage.prompt_tokens ?? 0,
        completion_tokens: body.usage.completion_tokens ?? 0,
        total_tokens: body.usage.total_tokens,
      }
      : undefined;
    return { files: [], text, ...(usage ? { usage } : {}) };
  },
};

export const WORKER_FORMATS: Record<ModelWorker, WorkerFormat> = {
  "comfyui-image": comfyuiImage,
  "sdxl": sdxl,
  "flux-public": fluxPublic,
  "kokoro": kokoro,
  "wan-t2v": wanT2v,
  "vllm": vllm,
};

/** The catalogue entry's worker, or the usual one for its kind. */
export function workerFormatOf(model: CatalogueModel): WorkerFormat {
  const fallback: Record<string, ModelWorker> = {
    image: "comfyui-image",
    audio: "kokoro",
    video: "wan-t2v",
    text: "vllm",
  };
  const worker = model.worker ?? fallback[model.kind];
  if (!worker) throw new Error(`model ${model.id} has no generation worker`);
  return WORKER_FORMATS[worker];
}
