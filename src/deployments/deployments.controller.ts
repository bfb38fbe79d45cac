import { ApiBody, ApiOperation, ApiResponse, ApiTags } from "@nestjs/swagger";
import { ApiErrors } from "../api-docs/api-docs.decorators.ts";
import { CREATE_DEPLOYMENT_REQUEST } from "../api-docs/request-schemas.ts";
import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Inject,
  Param,
  Patch,
  Post,
  Put,
  Req,
  Res,
} from "@nestjs/common";
import type { FastifyReply, FastifyRequest } from "fastify";
import { CurrentPrincipal, RequirePermission } from "../auth/auth.decorators.ts";
import type { Principal } from "../auth/principal.ts";
import { ApiError } from "../common/api-error.ts";
import { microsToUsd } from "../common/money.ts";
import { refuseUnknownFields } from "./deployment-fields.ts";
import { deploymentNotFound } from "./deployment.decider.ts";
import { DeploymentsQueries, type DeploymentView } from "./deployments.queries.ts";
import { ExternalUpstreamsService } from "./external/external-upstreams.service.ts";
import { PodHealthService } from "./pods/pod-health.service.ts";
import { GpuOffers } from "./pods/gpu-offers.ts";
import { PodLifecycleService } from "./pods/pod-lifecycle.service.ts";

/**
 * The caller's deployments. `POST` dispatches on `provider`: `runpod` (the default) rents a pod
 * that serves the model with Ollama; `external` registers an OpenAI-compatible server the account
 * runs itself.
 */
@Controller("api/deployments")
@ApiTags("Deployments")
export class DeploymentsController {
  constructor(
    @Inject(DeploymentsQueries) private readonly queries: DeploymentsQueries,
    @Inject(ExternalUpstreamsService) private readonly external: ExternalUpstreamsService,
    @Inject(PodLifecycleService) private readonly pods: PodLifecycleService,
    @Inject(PodHealthService) private readonly podHealth: PodHealthService,
    @Inject(GpuOffers) private readonly gpus: GpuOffers,
  ) {}

  @Post()
  @ApiOperation({ summary: "Deploy a model on a RunPod pod, or register an external server" })
  @ApiBody({ schema: CREATE_DEPLOYMENT_REQUEST })
  @ApiResponse({ status: 201, description: "An external upstream, registered." })
  @ApiResponse({ status: 202, description: "A pod, rented; provisioning continues." })
  @ApiErrors(
    400,
    [402, "Not enough credit for the pod's minimum prepaid minutes."],
    [403, "`pod_limit_reached`: MAX_PODS_PER_ACCOUNT pods already exist."],
    [409, "`deployment_exists`: the name is taken."],
    [502, "RunPod refused or failed the request."],
  )
  @RequirePermission("manage")
  async create(
    // Untyped on purpose: the global whitelist pipe skips it; each provider validates its own body.
    @Body() body: Record<string, unknown>,
    @CurrentPrincipal() principal: Principal,
    @Req() request: FastifyRequest,
    // Sent by hand: external registrations answer 201, pods 202 (provisioning continues).
    @Res() reply: FastifyReply,
  ) {
    if (typeof body !== "object" || body === null || Array.isArray(body)) {
      throw ApiError.badRequest("The request body must be a JSON object.", null, "invalid_json");
    }
    const provider = body.provider ?? "runpod";
    switch (provider) {
      case "external": {
        const input = this.external.parse(body);
        return reply.status(201).send(
          deploymentBody(await this.external.register(principal, input, request.id)),
        );
      }
      case "runpod": {
        // 202: the pod is rented; provisioning (Ollama ready, model pulled) continues in the background.
        const input = this.pods.parse(body);
        return reply.status(202).send(
          podDeploymentBody(await this.pods.deploy(principal, input, request.id)),
        );
      }
      default:
        throw ApiError.badRequest(
          `Invalid 'provider': expected 'runpod' or 'external', got ${JSON.stringify(provider)}.`,
          "provider",
          "invalid_value",
        );
    }
  }

  @Get()
  @ApiOperation({ summary: "The account's deployments" })
  @RequirePermission("read")
  list(@CurrentPrincipal() principal: Principal) {
    return {
      object: "list",
      data: this.queries.listForAccount(principal.accountId).map(deploymentBody),
    };
  }

  /** The GPUs a deploy may pick, with what an hour costs (the console's "Deploy a model" form). */
  @Get("gpus")
  @ApiOperation({ summary: "GPUs a deployment may ask for, with prices" })
  @RequirePermission("read")
  gpuList() {
    return { object: "list", data: this.gpus.list() };
  }

  @Get(":id")
  @ApiOperation({ summary: "One deployment" })
  @ApiErrors([404, "`deployment_not_found`"])
  @RequirePermission("read")
  get(@Param("id") id: string, @CurrentPrincipal() principal: Principal) {
    const deployment = this.queries.get(principal.accountId, id);
    if (!deployment) throw deploymentNotFound(id);
    return deploymentBody(deployment);
  }

  @Get(":id/health")
  @ApiOperation({ summary: "A deployment's live health" })
  @ApiErrors([404, "`deployment_not_found`"])
  // `proxy` too: the documentation checks health with the key it uses for chat.
  @RequirePermission("read", "proxy")
  health(@Param("id") id: string, @CurrentPrincipal() principal: Principal) {
    return this.podHealth.check(principal.accountId, id);
  }

  @Post(":id/stop")
  @ApiOperation({ summary: "Stop a pod (billing stops; the volume is kept)" })
  @ApiErrors([404, "`deployment_not_found`"], [409, "`invalid_deployment_state`"], 502)
  @HttpCode(200)
  @RequirePermission("manage")
  async stop(
    @Param("id") id: string,
    @CurrentPrincipal() principal: Principal,
    @Req() request: FastifyRequest,
    // Takes no body: any field (a mistaken chat body, a setting this version lacks) is a 400.
    @Body() body: unknown,
  ) {
    refuseUnknownFields(body, []);
    return podDeploymentBody(await this.pods.stop(principal, id, request.id));
  }

  @Post(":id/start")
  @ApiOperation({ summary: "Start a stopped pod" })
  @ApiErrors(402, [404, "`deployment_not_found`"], [409, "`invalid_deployment_state`"], 502)
  @HttpCode(202)
  @RequirePermission("manage")
  async start(
    @Param("id") id: string,
    @CurrentPrincipal() principal: Principal,
    @Req() request: FastifyRequest,
    @Body() body: unknown,
  ) {
    refuseUnknownFields(body, []);
    return podDeploymentBody(await this.pods.start(principal, id, request.id));
  }

  @Delete(":id")
  @ApiOperation({ summary: "Terminate a pod, or remove an external upstream" })
  @ApiErrors([404, "`deployment_not_found`"], [409, "`invalid_deployment_state`"], 502)
  @HttpCode(200)
  @RequirePermission("manage")
  async terminate(
    @Param("id") id: string,
    @CurrentPrincipal() principal: Principal,
    @Req() request: FastifyRequest,
    @Body() body: unknown,
  ) {
    refuseUnknownFields(body, []);
    // An external upstream is deleted on the gateway alone; a pod is terminated on RunPod first.
    if (await this.external.isExternal(principal.accountId, id)) {
      return {
        ...deploymentBody(await this.external.remove(principal, id, request.id)),
        deleted: true,
      };
    }
    return {
      ...podDeploymentBody(await this.pods.terminate(principal, id, request.id)),
      deleted: true,
    };
  }

  /** Changes a pod's sleep settings; raising max_spend_usd is how a `spend_cap` stop is lifted. */
  @Patch(":id")
  @ApiOperation({ summary: "Change a pod's idle_timeout_s, wake_on_request or max_spend_usd" })
  @ApiBody({
    schema: {
      type: "object",
      properties: {
        idle_timeout_s: { type: ["integer", "null"], minimum: 60, maximum: 86400 },
        wake_on_request: { type: "boolean" },
        max_spend_usd: { type: ["number", "null"], minimum: 0.01, maximum: 100000 },
      },
      additionalProperties: false,
    },
  })
  @ApiErrors(400, [404, "`deployment_not_found`"], [409, "`invalid_deployment_state`"])
  @HttpCode(200)
  @RequirePermission("manage")
  async update(
    @Param("id") id: string,
    @CurrentPrincipal() principal: Principal,
    @Req() request: FastifyRequest,
    @Body() body: unknown,
  ) {
    return podDeploymentBody(await this.pods.changeSleep(principal, id, body, request.id));
  }

  /** Replaces an external upstream's API key (`{api_key}`); the key is never returned. */
  @Put(":id/api-key")
  @ApiOperation({ summary: "Replace an external upstream's API key" })
  @ApiBody({
    schema: {
      type: "object",
      required: ["api_key"],
      properties: { api_key: { type: "string", minLength: 1 } },
      additionalProperties: false,
    },
  })
  @ApiErrors(400, [404, "`deployment_not_found`: no such external upstream."])
  @HttpCode(200)
  @RequirePermission("manage")
  async replaceKey(
    @Param("id") id: string,
    @CurrentPrincipal() principal: Principal,
    @Req() request: FastifyRequest,
    @Body() body: unknown,
  ) {
    const apiKey = this.external.parseKey(body);
    return deploymentBody(await this.external.replaceKey(principal, id, apiKey, request.id));
  }
}

/** Sleep and wake of a pod: the settings, why it is stopped, this month's spend. */
function sleepBody(deployment: DeploymentView) {
  return {
    stop_reason: deployment.status === "stopped" ? deployment.stopReason ?? null : null,
    idle_timeout_s: deployment.idleTimeoutS ?? null,
    wake_on_request: deployment.wakeOnRequest,
    max_spend_usd: deployment.maxSpendMicros === undefined
      ? null
      : microsToUsd(deployment.maxSpendMicros),
    // The calendar month (UTC) of the latest metered minute, and that month's spend.
    spend_month: deployment.spendMonth ?? null,
    month_spend_usd: microsToUsd(deployment.monthSpendMicros),
    last_used_at: deployment.lastUsedAt ?? null,
    ...(deployment.wakeState ? { wake_state: deployment.wakeState } : {}),
  };
}

/** A pod deployment: the common shape plus `model_identifier` (what Ollama serves). */
export function podDeploymentBody(deployment: DeploymentView) {
  return { ...deploymentBody(deployment), model_identifier: deployment.modelIdentifier };
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
    ...(deployment.provider === "runpod" ? sleepBody(deployment) : {}),
    spend_usd: microsToUsd(deployment.spendMicros),
    created_at: deployment.createdAt,
    updated_at: deployment.updatedAt,
  };
}
