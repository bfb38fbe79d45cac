import { Inject, Injectable } from "@nestjs/common";
import { GpuPriceTable } from "../../catalogue/gpu-prices.ts";
import { MICROS_PER_USD, microsToUsd } from "../../common/money.ts";
import { APP_CONFIG, type AppConfig } from "../../config/config.ts";

export interface GpuOffer {
  id: string;
  /** The GPU without its vendor prefix, for a picker (`RTX 4090`). */
  name: string;
  /** What the account pays per hour: the price table × POD_PRICE_MULTIPLIER; null when unknown. */
  price_per_hour_usd: number | null;
}

/**
 * The GPUs a deploy may ask for (RUNPOD_ALLOWED_GPUS), priced from the same table the deploy's
 * hold falls back to. The hold itself uses RunPod's live catalogue when it answers, so this is
 * the figure to show before deploying, not a quote.
 */
@Injectable()
export class GpuOffers {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(GpuPriceTable) private readonly prices: GpuPriceTable,
  ) {}

  list(): GpuOffer[] {
    return this.config.runpodAllowedGpus.map((id) => {
      const usd = this.prices.priceUsd(id);
      return {
        id,
        name: id.replace(/^NVIDIA\s+/, "").replace(/^GeForce\s+/, ""),
        // Integer micro-dollars first, so the multiplier adds no float noise.
        price_per_hour_usd: usd === undefined ? null : microsToUsd(
          Math.round(Math.round(usd * MICROS_PER_USD) * this.config.podPriceMultiplier),
        ),
      };
    });
  }
}
