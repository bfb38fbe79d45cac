import { Inject, Injectable } from "@nestjs/common";
import { SECRET_BOX, type SecretBox } from "../security/secret-box.ts";
import type { DeploymentProvider, DeploymentStatus } from "./deployment.events.ts";
import { DeploymentsQueries, type DeploymentView } from "./deployments.queries.ts";

/** Where an account's deployment is served, as the inference router needs it. */
export interface UpstreamTarget {
  deploymentId: string;
  provider: DeploymentProvider;
  name: string;
  /** What the upstream serves; sent upstream as `model`. */
  modelIdentifier: string;
  status: DeploymentStatus;
  /** OpenAI-compatible base URL ending in /v1 (no trailing slash); unset until a pod serves. */
  baseUrl?: string;
  /** `Bearer …` for an external upstream registered with a key; never logged, never returned. */
  authorization?: string;
  /**
   * A pod asleep (stopped by `idle` or `spend_cap` with wake_on_request) or being woken: a
   * request waits on DeploymentWaker.ensureAwake instead of being refused as not running.
   */
  sleeping?: boolean;
}

/**
 * The account's deployments as upstreams: the router asks by `model` and gets a ready base URL
 * and `authorization`, so the upstream keys' ciphertext and the secret box stay in this module.
 * Targets are built once per read-model row (rows are replaced when they change), so a request
 * decrypts nothing.
 */
@Injectable()
export class UpstreamTargets {
  private readonly targets = new WeakMap<DeploymentView, UpstreamTarget>();

  constructor(
    @Inject(DeploymentsQueries) private readonly deployments: DeploymentsQueries,
    @Inject(SECRET_BOX) private readonly secrets: SecretBox,
  ) {}

  /** The deployment a client means by `model` (name or model identifier), running ones first. */
  resolve(accountId: string, model: string): UpstreamTarget | undefined {
    const deployment = this.deployments.resolve(accountId, model);
    if (!deployment) return undefined;
    let target = this.targets.get(deployment);
    if (!target) {
      target = Object.freeze(this.targetOf(deployment));
      this.targets.set(deployment, target);
    }
    return target;
  }

  /** Names and model identifiers of the account's running deployments. */
  servingNames(accountId: string): string[] {
    const names = new Set<string>();
    for (const deployment of this.deployments.listForAccount(accountId)) {
      if (deployment.status !== "running") continue;
      names.add(deployment.name);
      names.add(deployment.modelIdentifier);
    }
    return [...names];
  }

  private targetOf(deployment: DeploymentView): UpstreamTarget {
    const serving = deployment.status === "running" && deployment.baseUrl;
    // Only a deployment that can be routed to has its key opened.
    const authorization = serving && deployment.provider === "external" &&
        deployment.apiKeyCiphertext
      ? `Bearer ${this.secrets.decrypt(deployment.apiKeyCiphertext)}`
      : undefined;
    return {
      deploymentId: deployment.id,
      provider: deployment.provider,
      name: deployment.name,
      modelIdentifier: deployment.modelIdentifier,
      status: deployment.status,
      baseUrl: deployment.baseUrl?.replace(/\/+$/, ""),
      authorization,
      ...(isSleeping(deployment) ? { sleeping: true } : {}),
    };
  }
}

/** Asleep and wakeable by a request, or a wake in progress (see UpstreamTarget.sleeping). */
export function isSleeping(deployment: DeploymentView): boolean {
  if (deployment.provider !== "runpod") return false;
  if (deployment.wakeState === "pending") return true;
  return deployment.status === "stopped" && deployment.wakeOnRequest &&
    (deployment.stopReason === "idle" || deployment.stopReason === "spend_cap");
}
