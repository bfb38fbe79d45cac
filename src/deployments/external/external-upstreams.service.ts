import { Inject, Injectable } from "@nestjs/common";
import { CLOCK, type Clock } from "../../common/clock.ts";
import { newId } from "../../common/ids.ts";
import { logger } from "../../common/json-logger.ts";
import { APP_CONFIG, type AppConfig } from "../../config/config.ts";
import type { Principal } from "../../auth/principal.ts";
import { optionalBoolean } from "../../common/body-fields.ts";
import { checkDeploymentName, refuseUnknownFields, textField } from "../deployment-fields.ts";
import { probeRealtime, realtimeUrl } from "../realtime-upstream.ts";
import { DeploymentCommandHandler } from "../deployment.handler.ts";
import { deploymentNotFound } from "../deployment.decider.ts";
import { deploymentNameTaken } from "../deployment-names.ts";
import { DeploymentsQueries, type DeploymentView } from "../deployments.queries.ts";
import { SECRET_BOX, type SecretBox } from "../../security/secret-box.ts";
import { checkUpstreamUrl } from "../../security/ssrf-guard.ts";
import { invalid } from "../../common/body-fields.ts";

export interface RegisterExternalUpstream {
  name: string;
  model: string;
  baseUrl: string;
  apiKey?: string;
  /** Declared to speak the realtime protocol; probed before it is registered. */
  realtime?: boolean;
}

/** Every field `POST /api/deployments` takes with `provider: "external"`. */
export const EXTERNAL_DEPLOYMENT_FIELDS = [
  "provider",
  "name",
  "model",
  "base_url",
  "api_key",
  "realtime",
] as const;

/** `ext_…` and RunPod pod ids. */
const DEPLOYMENT_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** Every field `PUT /api/deployments/{id}/api-key` takes. */
export const REPLACE_KEY_FIELDS = ["api_key"] as const;

/**
 * An account's own OpenAI-compatible servers (Ollama, vLLM, LM Studio, llama.cpp…): register,
 * delete, replace the key.
 */
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
    const realtime = optionalBoolean(body, "realtime");
    return { name, model, baseUrl, apiKey, ...(realtime ? { realtime: true } : {}) };
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
    if (input.realtime) {
      // Checked before anything is recorded: a failed probe registers nothing.
      await probeRealtime(realtimeUrl(baseUrl, input.model), {
        authorization: input.apiKey ? `Bearer ${input.apiKey}` : undefined,
        timeoutMs: this.config.realtimeProbeTimeoutMs,
        maxPayload: this.config.realtimeMaxMessageBytes,
        pinnedAddresses: this.config.allowPrivateUpstreams ? undefined : checked.addresses,
      });
    }
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
        ...(input.realtime ? { realtime: true } : {}),
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

  /** Whether `id` is one of the account's external upstreams (from its stream, not a read model). */
  async isExternal(accountId: string, id: string): Promise<boolean> {
    // A client-written id is a stream name: only the shape deployment ids have is looked up.
    if (!DEPLOYMENT_ID.test(id)) return false;
    const { state } = await this.handler.load(id);
    return state.provider === "external" && state.accountId === accountId;
  }

  /** Like a terminated pod, a deleted upstream is gone: deleting or re-keying it is a 404. */
  private async requireOwn(accountId: string, id: string): Promise<void> {
    if (!DEPLOYMENT_ID.test(id)) throw deploymentNotFound(id);
    const { state } = await this.handler.load(id);
    if (
      state.provider !== "external" || state.accountId !== accountId ||
      state.status === "terminated"
    ) {
      throw deploymentNotFound(id);
    }
  }

  /** `PUT /api/deployments/{id}/api-key` body: the new key; a 400 naming the field otherwise. */
  parseKey(body: unknown): string {
    if (typeof body !== "object" || body === null || Array.isArray(body)) {
      throw invalid(
        "api_key",
        "The request body must be a JSON object with 'api_key'.",
        "invalid_json",
      );
    }
    refuseUnknownFields(body, REPLACE_KEY_FIELDS);
    return textField(body as Record<string, unknown>, "api_key", true, 4096);
  }

  /** Deletes the upstream: not listed, not routed to, its name free for a new deployment. */
  async remove(principal: Principal, id: string, requestId?: string): Promise<DeploymentView> {
    await this.requireOwn(principal.accountId, id);
    const result = await this.handler.handle(id, {
      type: "RemoveExternalUpstream",
      at: this.clock.now().toISOString(),
    }, { actor: principal.actor, requestId });
    if (result.position !== undefined) await this.queries.waitFor(result.position);
    return this.queries.get(principal.accountId, id)!;
  }

  /** Replaces the upstream's API key; the next routed request sends the new one. */
  async replaceKey(
    principal: Principal,
    id: string,
    apiKey: string,
    requestId?: string,
  ): Promise<DeploymentView> {
    await this.requireOwn(principal.accountId, id);
    const result = await this.handler.handle(id, {
      type: "ReplaceExternalUpstreamKey",
      apiKeyCiphertext: this.secrets.encrypt(apiKey),
      at: this.clock.now().toISOString(),
    }, { actor: principal.actor, requestId });
    if (result.position !== undefined) await this.queries.waitFor(result.position);
    return this.queries.get(principal.accountId, id)!;
  }
}
