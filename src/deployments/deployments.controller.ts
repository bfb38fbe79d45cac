import { Body, Controller, Get, HttpCode, Inject, Param, Post, Req } from "@nestjs/common";
import type { FastifyRequest } from "fastify";
import { CurrentPrincipal, RequirePermission } from "../auth/auth.decorators.ts";
import type { Principal } from "../auth/principal.ts";
import { ApiError } from "../common/api-error.ts";
import { type DeploymentView, DeploymentsQueries } from "./deployments.queries.ts";
import { ExternalUpstreamsService } from "./external/external-upstreams.service.ts";

/**
 * The caller's deployments. `POST` dispatches on `provider`: `external` registers an
 * OpenAI-compatible server the account runs itself; RunPod pods plug in beside it.
 */
@Controller("api/deployments")
export class DeploymentsController {
  constructor(
    @Inject(DeploymentsQueries) private readonly queries: DeploymentsQueries,
    @Inject(ExternalUpstreamsService) private readonly external: ExternalUpstreamsService,
  ) {}

  @Post()
  @HttpCode(201)
  @RequirePermission("manage")
  async create(
    // Untyped on purpose: the global whitelist pipe skips it; each provider validates its own body.
    @Body() body: Record<string, unknown>,
    @CurrentPrincipal() principal: Principal,
    @Req() request: FastifyRequest,
  ) {
    if (typeof body !== "object" || body === null || Array.isArray(body)) {
      throw ApiError.badRequest("The request body must be a JSON object.", null, "invalid_json");
    }
    const provider = body.provider ?? "runpod";
    switch (provider) {
      case "external": {
        const input = this.external.parse(body);
        return deploymentBody(await this.external.register(principal, input, request.id));
      }
      case "runpod":
        throw new ApiError(501, "RunPod pod deployments are not available on this server yet.", {
          type: "invalid_request_error",
          param: "provider",
          code: "provider_not_implemented",
        });
      default:
        throw ApiError.badRequest(
          `Invalid 'provider': expected 'runpod' or 'external', got ${JSON.stringify(provider)}.`,
          "provider",
          "invalid_value",
        );
    }
  }

  @Get()
  @RequirePermission("read")
  list(@CurrentPrincipal() principal: Principal) {
    return { object: "list", data: this.queries.listForAccount(principal.accountId).map(deploymentBody) };
  }

  @Get(":id")
  @RequirePermission("read")
  get(@Param("id") id: string, @CurrentPrincipal() principal: Principal) {
    const deployment = this.queries.get(principal.accountId, id);
    if (!deployment) throw ApiError.notFound(`No deployment found with id '${id}'.`, "deployment_not_found", "id");
    return deploymentBody(deployment);
  }
}

/** The public shape of a deployment. Never includes the upstream API key. */
export function deploymentBody(deployment: DeploymentView) {
  return {
    id: deployment.id,
    object: "deployment",
    provider: deployment.provider,
    name: deployment.name,
    model: deployment.modelIdentifier,
    status: deployment.status,
    base_url: deployment.baseUrl ?? null,
    has_api_key: deployment.apiKeyCiphertext !== undefined,
    ...(deployment.podId ? { pod_id: deployment.podId } : {}),
    ...(deployment.gpuTypeId ? { gpu_type_id: deployment.gpuTypeId } : {}),
    ...(deployment.healthy !== undefined ? { healthy: deployment.healthy } : {}),
    ...(deployment.failureReason ? { failure_reason: deployment.failureReason } : {}),
    created_at: deployment.createdAt,
    updated_at: deployment.updatedAt,
  };
}
