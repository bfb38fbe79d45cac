import type { CatalogueModel } from "./catalogue.ts";

/**
 * The built-in catalogue: the pay-per-request prices of the product documentation. Endpoint
 * ids default to the model id, which is what the local RunPod simulator serves. Capabilities
 * and limits an entry leaves out come from its worker (worker-defaults.ts).
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
    // RunPod's embeddings worker (worker-infinity-embedding) serving BGE small (384 dimensions).
    // The alias makes the platform documentation's `text-embedding-3-small` request work as
    // written; the vectors are BGE's, not OpenAI's (README, "Catalogue").
    id: "bge-small-en-v1.5",
    kind: "embedding",
    runpod_endpoint_id: "bge-small-en-v1.5",
    served_model_name: "BAAI/bge-small-en-v1.5",
    aliases: ["text-embedding-3-small"],
    // A flat price per request: the limits keep one request to about a second of a small GPU.
    price_usd: 0.0005,
    limits: { max_inputs: 128, max_input_chars: 131_072 },
    estimated_time_ms: 5_000,
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
