import { Inject, Injectable } from "@nestjs/common";
import { readFileSync } from "node:fs";
import { usdToMicros } from "../common/money.ts";
import { APP_CONFIG, type AppConfig, ConfigError } from "../config/config.ts";

/**
 * Pod prices (USD per GPU-hour) for when RunPod's GPU catalogue does not answer. A deploy needs a
 * price BEFORE it rents a pod (to hold enough credit), so every allowed GPU must have one here or
 * in RunPod's catalogue. The metered price is always the one RunPod reports for the pod itself.
 *
 * Built-in figures: RunPod's secure-cloud on-demand prices (rounded up), December 2026. The
 * MODELS_FILE may override or add GPUs with a `gpu_prices` section:
 * `{"models":[...],"gpu_prices":{"NVIDIA GeForce RTX 4090":0.69}}`.
 */
export const BUILT_IN_GPU_PRICES_USD: Readonly<Record<string, number>> = {
  "NVIDIA GeForce RTX 4090": 0.69,
  "NVIDIA GeForce RTX 3090": 0.46,
  "NVIDIA RTX A5000": 0.29,
  "NVIDIA RTX A6000": 0.49,
  "NVIDIA L4": 0.43,
  "NVIDIA L40S": 0.86,
  "NVIDIA A40": 0.4,
  "NVIDIA A100 80GB PCIe": 1.64,
  "NVIDIA H100 80GB HBM3": 2.99,
  "NVIDIA H200": 3.59,
};

/** Same shape as RunPod's GPU type ids (`NVIDIA GeForce RTX 4090`). */
const GPU_ID = /^[A-Za-z0-9][A-Za-z0-9 ._()/-]{0,127}$/;

/** Validates a `gpu_prices` section; every problem is a ConfigError naming the entry. */
export function parseGpuPrices(section: unknown, source = "MODELS_FILE"): Record<string, number> {
  if (section === undefined) return {};
  if (typeof section !== "object" || section === null || Array.isArray(section)) {
    throw new ConfigError(`${source}: gpu_prices must be an object of GPU type id -> USD per hour`);
  }
  const prices: Record<string, number> = {};
  for (const [id, price] of Object.entries(section)) {
    if (!GPU_ID.test(id)) {
      throw new ConfigError(`${source}: gpu_prices key ${JSON.stringify(id)} is not a GPU type id`);
    }
    if (typeof price !== "number" || !Number.isFinite(price) || price <= 0) {
      throw new ConfigError(`${source}: gpu_prices["${id}"] must be a number > 0 (USD per hour)`);
    }
    try {
      usdToMicros(price);
    } catch {
      throw new ConfigError(`${source}: gpu_prices["${id}"] must have at most 6 decimal places`);
    }
    prices[id] = price;
  }
  return prices;
}

/** The `gpu_prices` section of MODELS_FILE (the catalogue module validates the rest of it). */
export function loadGpuPrices(modelsFile?: string): Record<string, number> {
  if (!modelsFile) return {};
  let document: unknown;
  try {
    document = JSON.parse(readFileSync(modelsFile, "utf8"));
  } catch (error) {
    throw new ConfigError(`MODELS_FILE: cannot read ${modelsFile} (${(error as Error).message})`);
  }
  const section = typeof document === "object" && document !== null
    ? (document as Record<string, unknown>).gpu_prices
    : undefined;
  return parseGpuPrices(section, `MODELS_FILE ${modelsFile}`);
}

@Injectable()
export class GpuPriceTable {
  private readonly prices: Map<string, number>;

  constructor(@Inject(APP_CONFIG) config: Pick<AppConfig, "modelsFile">) {
    this.prices = new Map(
      Object.entries({ ...BUILT_IN_GPU_PRICES_USD, ...loadGpuPrices(config.modelsFile) }),
    );
  }

  /** USD per GPU-hour, or undefined when neither the file nor the defaults know the GPU. */
  priceUsd(gpuTypeId: string): number | undefined {
    return this.prices.get(gpuTypeId);
  }
}
