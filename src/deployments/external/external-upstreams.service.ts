import { Inject, Injectable } from "@nestjs/common";
import { CLOCK, type Clock } from "../../common/clock.ts";
import { newId } from "../../common/ids.ts";
import { logger } from "../../common/json-logger.ts";
import { APP_CONFIG, type AppConfig } from "../../config/config.ts";
import type { Principal } from "../../auth/principal.ts";
import { checkDeploymentName, refuseUnknownFields, textField } from "../deployment-fields.ts";
import { DeploymentCommandHandler } from "../deployment.handler.ts";
import { deploymentNameTaken } from "../deployment-names.ts";
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
    @Inject(DeploymentCommandHandler) private readonly handler: DeploymentCommandHandler,
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
    const accountId = principal.accountId;
    // A cheap first refusal, and the only one for deployments older than name claims; the claim
    // below is the race-free one.
    if (this.queries.hasName(accountId, input.name)) throw deploymentNameTaken(input.name);
    const deploymentId = newId("ext", 16);
    const metadata = { actor: principal.actor, requestId };
    const name = { accountId, name: input.name, deploymentId };
    const at = this.clock.now().toISOString();
    await this.handler.claimName(name, at, metadata);
    let appended;
    try {
      appended = await this.handler.handle(deploymentId, {
        type: "RegisterExternalUpstream",
        deploymentId,
        accountId,
        name: input.name,
        modelIdentifier: input.model,
        baseUrl,
        ...(input.apiKey ? { apiKeyCiphertext: this.secrets.encrypt(input.apiKey) } : {}),
        at,
      }, metadata);
    } catch (error) {
      // Give the name back so a retry can succeed; a release lost here goes stale and is taken back.
      await this.handler.releaseName(name, "request_failed", at, metadata).catch((releaseError) =>
        logger.write("warn", "could not release a deployment name", {
          deploymentId,
          error: (releaseError as Error).message,
        })
      );
      throw error;
    }
    await this.queries.waitFor(appended.position!);
    return this.queries.get(principal.accountId, deploymentId)!;
  }
}
