import { Inject, Injectable } from "@nestjs/common";
import { ApiError } from "../common/api-error.ts";
import { APP_CONFIG, type AppConfig } from "../config/config.ts";
import { type CatalogueModel, ModelCatalogue, type ServingLimits } from "../catalogue/catalogue.ts";
import { type UpstreamTarget, UpstreamTargets } from "../deployments/upstream-targets.ts";
import type { RouteKind } from "./inference.events.ts";

/** How the upstream speaks: what to normalise in requests and responses. */
export type UpstreamFlavour = "ollama" | "vllm" | "openai";

/** What a request is for: decides which catalogue kinds fit and the wrong-type message. */
export type Purpose = "chat" | "completions" | "embeddings" | "responses";

export interface Route {
  kind: RouteKind;
  /** Pod/external deployment id, or the serverless endpoint id. */
  deploymentId: string;
  /** The `model` sent upstream. */
  upstreamModel: string;
  /** The deployment's model identifier as users know it (x_modelpilot.model_identifier). */
  modelIdentifier: string;
  /** OpenAI-compatible base URL ending in /v1. */
  baseUrl: string;
  /** `Bearer …` for the upstream; never logged, never returned. */
  authorization?: string;
  flavour: UpstreamFlavour;
  /** Account-supplied host: re-checked against the SSRF rules on every request. */
  guarded: boolean;
  /** Per-request price in micro-dollars (serverless catalogue models only). */
  priceMicros: number;
  /** Shown as x_modelpilot.direct_endpoint (null when it would need our credentials). */
  directEndpoint: string | null;
  /** Shared serverless endpoints at a flat price: what one request may ask for. */
  limits?: ServingLimits;
}

const PURPOSE_LABEL: Record<Purpose, string> = {
  chat: "chat completions",
  completions: "completions",
  embeddings: "embeddings",
  responses: "responses",
};

/**
 * Per-account model resolution: the account's deployments (pods and external upstreams) by
 * name or model identifier, then the catalogue's serverless models.
 */
@Injectable()
export class ModelRouter {
  private readonly runpodApiUrl: string;
  /** Routes of running deployments, per target (one per read-model row, replaced on change). */
  private readonly deploymentRoutes = new WeakMap<UpstreamTarget, Route>();
  /** Routes of catalogue models (a fixed set: one per model, built on first use). */
  private readonly catalogueRoutes = new Map<string, Route>();

  constructor(
    @Inject(UpstreamTargets) private readonly targets: UpstreamTargets,
    @Inject(ModelCatalogue) private readonly catalogue: ModelCatalogue,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.runpodApiUrl = config.runpodApiUrl.replace(/\/+$/, "");
  }

  resolve(accountId: string, model: string, purpose: Purpose): Route {
    const target = this.targets.resolve(accountId, model);
    if (target) {
      let route = this.deploymentRoutes.get(target);
      if (!route) {
        route = Object.freeze(this.deploymentRoute(target, model));
        this.deploymentRoutes.set(target, route);
      }
      return route;
    }
    const entry = this.catalogue.get(model);
    if (entry) {
      if (!fits(entry, purpose)) throw wrongKind(model, purpose);
      let route = this.catalogueRoutes.get(entry.id);
      if (!route) {
        route = Object.freeze(this.catalogueRoute(entry));
        this.catalogueRoutes.set(entry.id, route);
      }
      return route;
    }
    // `model` is at most MAX_MODEL_LENGTH characters (validated), so the echo stays small.
    throw new ApiError(404, `No active deployment found for model '${model}'`, {
      type: "invalid_request_error",
      param: "model",
      code: "model_not_found",
      extra: { available_models: this.availableModels(accountId, purpose) },
    });
  }

  /** Ids a client may use: running deployments (name and model identifier), then catalogue models. */
  availableModels(accountId: string, purpose: Purpose = "chat"): string[] {
    const names = new Set(this.targets.servingNames(accountId));
    for (const entry of this.catalogue.list()) if (fits(entry, purpose)) names.add(entry.id);
    return [...names];
  }

  private deploymentRoute(target: UpstreamTarget, model: string): Route {
    if (target.status !== "running" || !target.baseUrl) {
      throw new ApiError(
        400,
        `Model '${model}' deployment is not running (status: ${target.status})`,
        {
          type: "invalid_request_error",
          param: "model",
          code: "model_not_available",
        },
      );
    }
    const external = target.provider === "external";
    const baseUrl = target.baseUrl;
    return {
      kind: external ? "external" : "pod",
      deploymentId: target.deploymentId,
      upstreamModel: target.modelIdentifier,
      modelIdentifier: target.modelIdentifier,
      baseUrl,
      authorization: target.authorization,
      flavour: external ? "openai" : "ollama",
      guarded: external && !this.config.allowPrivateUpstreams,
      priceMicros: 0,
      directEndpoint: baseUrl,
    };
  }

  private catalogueRoute(entry: CatalogueModel): Route {
    return {
      kind: "serverless",
      deploymentId: entry.runpod_endpoint_id,
      upstreamModel: entry.served_model_name ?? entry.id,
      modelIdentifier: entry.served_model_name ?? entry.id,
      baseUrl: `${this.runpodApiUrl}/${encodeURIComponent(entry.runpod_endpoint_id)}/openai/v1`,
      authorization: this.config.runpodApiKey ? `Bearer ${this.config.runpodApiKey}` : undefined,
      flavour: "vllm",
      guarded: false,
      priceMicros: this.catalogue.priceMicros(entry.id),
      directEndpoint: null,
      limits: this.catalogue.servingLimits(entry.id),
    };
  }
}

function wrongKind(model: string, purpose: Purpose): ApiError {
  const wanted = purpose === "embeddings" ? "an embedding" : "a text";
  return new ApiError(
    400,
    `Model '${model}' is not ${wanted} model and cannot be used with ${PURPOSE_LABEL[purpose]}`,
    { type: "invalid_request_error", param: "model", code: "invalid_model_type" },
  );
}

function fits(entry: CatalogueModel, purpose: Purpose): boolean {
  return purpose === "embeddings" ? entry.kind === "embedding" : entry.kind === "text";
}
