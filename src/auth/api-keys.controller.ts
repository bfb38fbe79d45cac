import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Req } from "@nestjs/common";
import type { FastifyRequest } from "fastify";
import { ApiError } from "../common/api-error.ts";
import { NoBody } from "../common/validation.ts";
import { AccountCommandHandler } from "./account.handler.ts";
import { ApiKeysQueries } from "./api-keys.queries.ts";
import { createdKeyBody, keySummaryBody } from "./api-keys.responses.ts";
import { CurrentPrincipal, RequirePermission } from "./auth.decorators.ts";
import { CreateApiKeyDto } from "./dto/credentials.dto.ts";
import type { Principal } from "./principal.ts";

/** The caller's own API keys. Listing needs `read`; creating and revoking need `manage`. */
@Controller("api/keys")
export class ApiKeysController {
  constructor(
    @Inject(AccountCommandHandler) private readonly commands: AccountCommandHandler,
    @Inject(ApiKeysQueries) private readonly queries: ApiKeysQueries,
  ) {}

  @Post()
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
    const created = await this.commands.createApiKey(principal.accountId, body, {
      actor: principal.actor,
      requestId: request.id,
    });
    return createdKeyBody(created);
  }

  @Get()
  @RequirePermission("read")
  async list(@CurrentPrincipal() principal: Principal) {
    const keys = await this.queries.listActive(principal.accountId);
    return { object: "list", data: keys.map(keySummaryBody) };
  }

  @Delete(":id")
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
