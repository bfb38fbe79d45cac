import { Inject, Injectable } from "@nestjs/common";
import { ApiError } from "../common/api-error.ts";
import { APP_CONFIG, type AppConfig } from "../config/config.ts";
import { type CatalogueModel, ModelCatalogue, type ServingLimits } from "../catalogue/catalogue.ts";
import { DeploymentsQueries } from "../deployments/deployments.queries.ts";
import { type UpstreamTarget, UpstreamTargets } from "../deployments/upstream-targets.ts";
import type { ModelGroupMember } from "../model-groups/model-group.events.ts";
import { ModelGroupsQueries, type ModelGroupView } from "../model-groups/model-groups.queries.ts";
import type { RouteKind } from "./inference.events.ts";
import { WAKER, type Waker } from "./wake.ts";

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

/** `model` names a pod that must be woken first. */
export interface AsleepDeployment {
  kind: "asleep";
  deploymentId: string;
}

/** `model` names one of the account's model groups. */
export interface GroupResolution {
  kind: "group";
  group: ModelGroupView;
}

export type Resolution = Route | AsleepDeployment | GroupResolution;

/** One group member as this request may use it (undefined from `member`: skip it). */
export type MemberRoute = { route: Route; asleep: false } | {
  asleep: true;
  deploymentId: string;
};

const PURPOSE_LABEL: Record<Purpose, string> = {
  chat: "chat completions",
  completions: "completions",
  embeddings: "embeddings",
  responses: "responses",
};

/** What the router keeps per deployment target: its route when it serves, what a wake check takes. */
interface TargetEntry {
  route?: Route;
  /** Pods only: the argument of the waker's check, built once. */
  wakeKey?: { id: string; provider: string; status: string };
  asleep: AsleepDeployment;
}

/**
 * Per-account model resolution: the account's deployments (pods and external upstreams) by
 * name or model identifier, then its model groups, then the catalogue's serverless models. A
 * running deployment costs one cached lookup (plus the waker's check for pods); groups and
 * sleeping pods are handed back for the pipeline's slower path.
 */
@Injectable()
export class ModelRouter {
  private readonly runpodApiUrl: string;
  /** Per target (one per read-model row, replaced on change). */
  private readonly deploymentEntries = new WeakMap<UpstreamTarget, TargetEntry>();
  /** Routes of catalogue models (a fixed set: one per model, built on first use). */
  private readonly catalogueRoutes = new Map<string, Route>();

  constructor(
    @Inject(UpstreamTargets) private readonly targets: UpstreamTargets,
    @Inject(DeploymentsQueries) private readonly deployments: DeploymentsQueries,
    @Inject(ModelGroupsQueries) private readonly groups: ModelGroupsQueries,
    @Inject(ModelCatalogue) private readonly catalogue: ModelCatalogue,
    @Inject(WAKER) private readonly waker: Waker,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.runpodApiUrl = config.runpodApiUrl.replace(/\/+$/, "");
  }

  resolve(accountId: string, model: string, purpose: Purpose): Resolution {
    const target = this.targets.resolve(accountId, model);
    if (target) {
      const entry = this.entryOf(target);
      if (entry.wakeKey && this.waker.needsWake(entry.wakeKey)) return entry.asleep;
      if (!entry.route) throw notRunning(model, target.status);
      return entry.route;
    }
    const group = this.groups.resolve(accountId, model);
    if (group) return { kind: "group", group };
    return this.catalogueRoute(accountId, model, purpose);
  }

  /** A deployment's route once it is awake (after a wake), or the refusal a request would get. */
  awake(accountId: string, model: string, deploymentId: string): Route {
    const target = this.targets.resolve(accountId, model);
    const route = target?.deploymentId === deploymentId ? this.entryOf(target).route : undefined;
    if (!route) throw notRunning(model, target?.status ?? "stopped");
    return route;
  }

  /**
   * How this request may use a group member, or undefined when it is to be skipped: gone,
   * stopped and not wakeable, unhealthy, or of the wrong kind for the request.
   */
  member(accountId: string, member: ModelGroupMember, purpose: Purpose): MemberRoute | undefined {
    if (member.kind === "catalogue") {
      const entry = this.catalogue.get(member.model);
      if (!entry || !fits(entry, purpose)) return undefined;
      return { route: this.catalogueRouteOf(entry), asleep: false };
    }
    const target = this.targets.resolve(accountId, member.model);
    if (!target) return undefined;
    const entry = this.entryOf(target);
    if (entry.wakeKey && this.waker.needsWake(entry.wakeKey)) {
      return { asleep: true, deploymentId: target.deploymentId };
    }
    if (!entry.route) return undefined;
    // The health checker's last word (a pod that died behind our back reads unhealthy).
    if (this.deployments.resolve(accountId, member.model)?.healthy === false) return undefined;
    return { route: entry.route, asleep: false };
  }

  /** Ids a client may use: running deployments (name and model identifier), groups, catalogue models. */
  availableModels(accountId: string, purpose: Purpose = "chat"): string[] {
    const names = new Set(this.targets.servingNames(accountId));
    for (const group of this.groups.listForAccount(accountId)) names.add(group.name);
    for (const entry of this.catalogue.list()) if (fits(entry, purpose)) names.add(entry.id);
    return [...names];
  }

  private entryOf(target: UpstreamTarget): TargetEntry {
    let entry = this.deploymentEntries.get(target);
    if (!entry) {
      const serving = target.status === "running" && target.baseUrl;
      entry = {
        route: serving ? Object.freeze(this.deploymentRoute(target, target.baseUrl!)) : undefined,
        wakeKey: target.provider === "runpod"
          ? Object.freeze({
            id: target.deploymentId,
            provider: target.provider,
            status: target.status,
          })
          : undefined,
        asleep: Object.freeze({ kind: "asleep", deploymentId: target.deploymentId }),
      };
      this.deploymentEntries.set(target, entry);
    }
    return entry;
  }

  private catalogueRoute(accountId: string, model: string, purpose: Purpose): Route {
    const entry = this.catalogue.get(model);
    if (entry) {
      if (!fits(entry, purpose)) throw wrongKind(model, purpose);
      return this.catalogueRouteOf(entry);
    }
    // `model` is at most MAX_MODEL_LENGTH characters (validated), so the echo stays small.
    throw new ApiError(404, `No active deployment found for model '${model}'`, {
      type: "invalid_request_error",
      param: "model",
      code: "model_not_found",
      extra: { available_models: this.availableModels(accountId, purpose) },
    });
  }

  private catalogueRouteOf(entry: CatalogueModel): Route {
    let route = this.catalogueRoutes.get(entry.id);
    if (!route) {
      route = Object.freeze(this.serverlessRoute(entry));
      this.catalogueRoutes.set(entry.id, route);
    }
    return route;
  }

  private deploymentRoute(target: UpstreamTarget, baseUrl: string): Route {
    const external = target.provider === "external";
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

  private serverlessRoute(entry: CatalogueModel): Route {
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

function notRunning(model: string, status: string): ApiError {
  return new ApiError(400, `Model '${model}' deployment is not running (status: ${status})`, {
    type: "invalid_request_error",
    param: "model",
    code: "model_not_available",
  });
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
