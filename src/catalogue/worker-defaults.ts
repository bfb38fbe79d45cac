import type { CatalogueModel, ModelKind, ModelLimits, ModelWorker } from "./catalogue.ts";

/**
 * What each RunPod worker can do, so a catalogue entry naming a worker needs to state only what
 * differs (runpod-api.md section 4). The wire formats themselves live in
 * src/generation/worker-formats.ts; the catalogue owns these because every reader of an entry
 * (validation, pricing, the generation service) must see the same resolved capabilities.
 */
interface WorkerDefaults {
  /** The catalogue kinds the worker serves. */
  kinds: readonly ModelKind[];
  limits?: ModelLimits;
  supports_negative_prompt?: boolean;
  estimated_time_ms?: number;
  default_voice?: string;
}

export const WORKER_DEFAULTS: Readonly<Record<ModelWorker, WorkerDefaults>> = {
  // The graph has a negative-prompt node, but whether it matters depends on the checkpoint
  // (Flux ignores negative prompts), so an entry that wants it states it.
  "comfyui-image": {
    kinds: ["image"],
    limits: { min_size: 256, max_size: 1536, size_step: 64 },
    supports_negative_prompt: false,
    estimated_time_ms: 30_000,
  },
  // worker-sdxl takes `negative_prompt` (its schemas.py); sizes are multiples of 8.
  "sdxl": {
    kinds: ["image"],
    limits: { min_size: 512, max_size: 1536, size_step: 8 },
    supports_negative_prompt: true,
    estimated_time_ms: 15_000,
  },
  // The Flux public endpoint: 256-1536 in steps of 64; the product documents no negative prompt.
  "flux-public": {
    kinds: ["image"],
    limits: { min_size: 256, max_size: 1536, size_step: 64 },
    supports_negative_prompt: false,
    estimated_time_ms: 20_000,
  },
  "kokoro": {
    kinds: ["audio"],
    limits: { max_chars: 5_000 },
    default_voice: "af_heart",
    estimated_time_ms: 5_000,
  },
  // The Wan public endpoint takes `negative_prompt`.
  "wan-t2v": { kinds: ["video"], supports_negative_prompt: true, estimated_time_ms: 120_000 },
  // worker-vllm serves chat and completions, and embeddings for an embedding model.
  "vllm": { kinds: ["text", "embedding"], estimated_time_ms: 30_000 },
};

/** The worker a generation kind uses when its entry names none. */
const WORKER_OF_KIND: Partial<Record<ModelKind, ModelWorker>> = {
  image: "comfyui-image",
  audio: "kokoro",
  video: "wan-t2v",
  text: "vllm",
};

/**
 * The entry with its worker resolved and the worker's capabilities and limits filled in where
 * the entry states none (a stated limit replaces only that limit). A worker that cannot serve
 * the entry's kind is refused through `fail`.
 */
export function withWorkerDefaults(
  entry: CatalogueModel,
  at: string,
  fail: (detail: string) => never,
): CatalogueModel {
  const worker = entry.worker ?? WORKER_OF_KIND[entry.kind];
  if (worker === undefined) return entry;
  const defaults = WORKER_DEFAULTS[worker];
  if (!defaults.kinds.includes(entry.kind)) {
    fail(`${at}.worker '${worker}' serves ${defaults.kinds.join(", ")} models, not ${entry.kind}`);
  }
  const limits = defaults.limits || entry.limits
    ? { ...defaults.limits, ...entry.limits }
    : undefined;
  if (limits?.min_size !== undefined && limits.max_size !== undefined) {
    if (limits.min_size > limits.max_size) {
      fail(`${at}.limits: min_size ${limits.min_size} exceeds max_size ${limits.max_size}`);
    }
  }
  const filled: CatalogueModel = { ...entry, worker };
  if (limits) filled.limits = limits;
  for (const field of ["supports_negative_prompt", "estimated_time_ms", "default_voice"] as const) {
    if (filled[field] === undefined && defaults[field] !== undefined) {
      (filled as unknown as Record<string, unknown>)[field] = defaults[field];
    }
  }
  return filled;
}
