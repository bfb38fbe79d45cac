import { Inject, Injectable } from "@nestjs/common";
import { ApiError } from "../common/api-error.ts";
import { DomainError } from "../common/domain-error.ts";
import { ModelCatalogue, type RealtimePricing } from "../catalogue/catalogue.ts";
import { APP_CONFIG, type AppConfig } from "../config/config.ts";
import { realtimeUrl } from "../deployments/realtime-upstream.ts";
import { UpstreamTargets } from "../deployments/upstream-targets.ts";
import type { RealtimeRouteKind } from "./realtime.events.ts";
import { RealtimeQueries } from "./realtime.queries.ts";

/** Where one realtime session goes, and how it is billed. */
export interface RealtimeRoute {
  kind: RealtimeRouteKind;
  deploymentId: string;
  upstreamModel: string;
  /** `ws(s)://…/realtime?model=…` */
  url: string;
  /** The upstream's own `Bearer …`; never the client's. */
  authorization?: string;
  /** Account-supplied host: checked against the SSRF rules before each dial. */
  guarded: boolean;
  /** Catalogue models only. */
  pricing: RealtimePricing | null;
}

/**
 * Resolves `?model=` for a realtime session: the account's deployments that declared
 * `"realtime": true` (by name or model identifier), then catalogue models of kind `realtime`,
 * which live on RunPod load-balancing endpoints (queue endpoints cannot hold a socket).
 */
@Injectable()
export class RealtimeRouter {
  constructor(
    @Inject(UpstreamTargets) private readonly targets: UpstreamTargets,
    @Inject(ModelCatalogue) private readonly catalogue: ModelCatalogue,
    @Inject(RealtimeQueries) private readonly queries: RealtimeQueries,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async resolve(accountId: string, model: string): Promise<RealtimeRoute> {
    const target = this.targets.resolve(accountId, model);
    if (target) {
      if (!(await this.queries.speaksRealtime(target.deploymentId))) throw notRealtime(model);
      if (target.status !== "running" || !target.baseUrl) {
        throw new ApiError(
          400,
          `Model '${model}' deployment is not running (status: ${target.status})`,
          { type: "invalid_request_error", param: "model", code: "model_not_available" },
        );
      }
      const external = target.provider === "external";
      return {
        kind: external ? "external" : "pod",
        deploymentId: target.deploymentId,
        upstreamModel: target.modelIdentifier,
        url: realtimeUrl(target.baseUrl, target.modelIdentifier),
        authorization: target.authorization,
        guarded: external && !this.config.allowPrivateUpstreams,
        pricing: null,
      };
    }
    const entry = this.catalogue.get(model);
    if (!entry) {
      throw new ApiError(404, `No active deployment found for model '${model}'`, {
        type: "invalid_request_error",
        param: "model",
        code: "model_not_found",
      });
    }
    const pricing = this.catalogue.realtimePricing(entry.id);
    if (!pricing) throw notRealtime(model);
    const upstreamModel = entry.served_model_name ?? entry.id;
    const endpointBase = this.config.runpodLbUrl.replaceAll(
      "{endpointId}",
      encodeURIComponent(entry.runpod_endpoint_id),
    );
    return {
      kind: "serverless",
      deploymentId: entry.runpod_endpoint_id,
      upstreamModel,
      url: realtimeUrl(`${endpointBase.replace(/\/+$/, "")}/v1`, upstreamModel),
      authorization: this.config.runpodApiKey ? `Bearer ${this.config.runpodApiKey}` : undefined,
      guarded: false,
      pricing,
    };
  }
}

/** A model that exists but cannot hold a realtime session (the filter table maps it to 400). */
export class RealtimeRejected extends DomainError<"model_not_realtime"> {}

function notRealtime(model: string): RealtimeRejected {
  return new RealtimeRejected(
    "model_not_realtime",
    `Model '${model}' does not speak the realtime protocol. Use a catalogue model of kind ` +
      "'realtime', or a deployment registered with \"realtime\": true.",
    "model",
  );
}
