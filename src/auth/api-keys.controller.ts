import { ApiOperation, ApiTags } from "@nestjs/swagger";
import { ApiErrors } from "../api-docs/api-docs.decorators.ts";
import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Req } from "@nestjs/common";
import type { FastifyRequest } from "fastify";
import { ApiError } from "../common/api-error.ts";
import { NoBody } from "../common/validation.ts";
import { ApiKeyCommandHandler } from "./api-key.handler.ts";
import { ApiKeysQueries } from "./api-keys.queries.ts";
import { createdKeyBody, keySummaryBody } from "./api-keys.responses.ts";
import { CurrentPrincipal, RequirePermission } from "./auth.decorators.ts";
import { CreateApiKeyDto, RotateApiKeyDto } from "./dto/credentials.dto.ts";
import type { Principal } from "./principal.ts";

/** The caller's own API keys. Listing needs `read`; creating, rotating and revoking `manage`. */
@Controller("api/keys")
@ApiTags("API keys")
export class ApiKeysController {
  constructor(
    @Inject(ApiKeyCommandHandler) private readonly commands: ApiKeyCommandHandler,
    @Inject(ApiKeysQueries) private readonly queries: ApiKeysQueries,
  ) {}

  @Post()
  @ApiOperation({ summary: "Create an API key (the secret is shown once)" })
  @RequirePermission("manage")
  async create(
    @Body() body: CreateApiKeyDto,
    @CurrentPrincipal() principal: Principal,
    @Req() request: FastifyRequest,
  ) {
    // A key cannot mint a key stronger than itself.
    const missing = body.permissions.find((permission) =>
      !principal.permissions.includes(permission)
    );
    if (missing) {
      throw ApiError.forbidden(
        `This API key does not have the '${missing}' permission, so it cannot grant it.`,
      );
    }
    const created = await this.commands.createApiKey(principal.accountId, {
      name: body.name,
      permissions: body.permissions,
      expiresAt: body.expires_at,
    }, { actor: principal.actor, requestId: request.id });
    return createdKeyBody(created);
  }

  @Get()
  @ApiOperation({ summary: "The account's API keys (never their secrets)" })
  @RequirePermission("read")
  async list(@CurrentPrincipal() principal: Principal) {
    const keys = await this.queries.listActive(principal.accountId);
    return { object: "list", data: keys.map(keySummaryBody) };
  }

  @Post(":id/rotate")
  @ApiOperation({ summary: "Rotate a key: a new secret, optionally with a grace period" })
  @ApiErrors([404, "`api_key_not_found`"])
  @HttpCode(200)
  @RequirePermission("manage")
  async rotate(
    @Param("id") id: string,
    @Body() body: RotateApiKeyDto,
    @CurrentPrincipal() principal: Principal,
    @Req() request: FastifyRequest,
  ) {
    const rotated = await this.commands.rotateApiKey(
      principal.accountId,
      id,
      { gracePeriodSeconds: body.grace_period_s ?? 0, callerPermissions: principal.permissions },
      { actor: principal.actor, requestId: request.id },
    );
    return createdKeyBody(rotated);
  }

  @Delete(":id")
  @ApiOperation({ summary: "Revoke an API key" })
  @ApiErrors([404, "`api_key_not_found`"])
  @HttpCode(200)
  @RequirePermission("manage")
  async revoke(
    @Param("id") id: string,
    @CurrentPrincipal() principal: Principal,
    @Req() request: FastifyRequest,
    @Body() _body: NoBody,
  ) {
    await this.commands.revokeApiKey(principal.accountId, id, {
      actor: principal.actor,
      requestId: request.id,
    });
    return { id, object: "api_key", deleted: true };
  }
}
