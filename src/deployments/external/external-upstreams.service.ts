import { Inject, Injectable } from "@nestjs/common";
import { ApiError } from "../../common/api-error.ts";
import { CLOCK, type Clock } from "../../common/clock.ts";
import { newEventId, newId } from "../../common/ids.ts";
import { APP_CONFIG, type AppConfig } from "../../config/config.ts";
import { EVENT_STORE, type EventStore } from "../../event-store/event-store.port.ts";
import type { Principal } from "../../auth/principal.ts";
import { checkDeploymentName, refuseUnknownFields, textField } from "../deployment-fields.ts";
import { type DeploymentRequested, deploymentStream } from "../deployment.events.ts";
import { DeploymentsQueries, type DeploymentView } from "../deployments.queries.ts";
import { SECRET_BOX, type SecretBox } from "../../security/secret-box.ts";
import { checkUpstreamUrl } from "../../security/ssrf-guard.ts";

export interface RegisterExternalUpstream {
  name: string;
  model: string;
  baseUrl: string;
  apiKey?: string;
}

/** Every field `POST /api/deployments` takes with `provider: "external"`. */
export const EXTERNAL_DEPLOYMENT_FIELDS = [
  "provider",
  "name",
  "model",
  "base_url",
  "api_key",
] as const;

/** Registers an account's own OpenAI-compatible server (Ollama, vLLM, LM Studio, llama.cpp…). */
@Injectable()
export class ExternalUpstreamsService {
  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(DeploymentsQueries) private readonly queries: DeploymentsQueries,
    @Inject(SECRET_BOX) private readonly secrets: SecretBox,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  /** Validates the request body shape; every failure is a 400 naming its field. */
  parse(body: Record<string, unknown>): RegisterExternalUpstream {
    refuseUnknownFields(body, EXTERNAL_DEPLOYMENT_FIELDS);
    const name = checkDeploymentName(textField(body, "name", true));
    const model = textField(body, "model", true, 256);
    const baseUrl = textField(body, "base_url", true, 2048);
    const apiKey = textField(body, "api_key", false, 4096);
    return { name, model, baseUrl, apiKey };
  }

  async register(
    principal: Principal,
    input: RegisterExternalUpstream,
    requestId?: string,
  ): Promise<DeploymentView> {
    const checked = await checkUpstreamUrl(input.baseUrl, {
      allowPrivate: this.config.allowPrivateUpstreams,
    });
    const baseUrl = checked.url.toString().replace(/\/+$/, "");
    const existing = this.queries.resolve(principal.accountId, input.name);
    if (existing && existing.name === input.name) {
      throw ApiError.conflict(
        `A deployment named '${input.name}' already exists.`,
        "deployment_exists",
      );
    }
    const deploymentId = newId("ext", 16);
    const data: DeploymentRequested = {
      deploymentId,
      accountId: principal.accountId,
      provider: "external",
      name: input.name,
      modelIdentifier: input.model,
      baseUrl,
      ...(input.apiKey ? { apiKeyCiphertext: this.secrets.encrypt(input.apiKey) } : {}),
      requestedAt: this.clock.now().toISOString(),
    };
    const appended = await this.store.append(deploymentStream(deploymentId), [{
      id: newEventId(),
      type: "DeploymentRequested",
      data,
      metadata: { accountId: principal.accountId, actor: principal.actor, requestId },
    }], { expectedRevision: "no_stream" });
    await this.queries.waitFor(appended.position);
    return this.queries.get(principal.accountId, deploymentId)!;
  }
}
