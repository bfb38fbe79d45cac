import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Inject,
  Optional,
  Param,
  Post,
  Req,
} from "@nestjs/common";
import type { FastifyRequest } from "fastify";
import { ApiError } from "../common/api-error.ts";
import { NoBody } from "../common/validation.ts";
import { microsToUsd } from "../common/money.ts";
import { AccountCommandHandler } from "../auth/account.handler.ts";
import { AccountsQueries } from "../auth/accounts.queries.ts";
import { createdKeyBody } from "../auth/api-keys.responses.ts";
import { AdminOnly } from "../auth/auth.decorators.ts";
import { AdminCreateAccountDto, CreateApiKeyDto } from "../auth/dto/credentials.dto.ts";
import { ADMIN_ACTOR } from "../auth/principal.ts";
import { ACCOUNT_BALANCE_READER, type AccountBalanceReader } from "../billing/balance-reader.ts";

/** Operators' account API (`Authorization: Bearer $ADMIN_API_KEY`); every action names the actor. */
@Controller("admin/accounts")
@AdminOnly()
export class AdminAccountsController {
  constructor(
    @Inject(AccountCommandHandler) private readonly commands: AccountCommandHandler,
    @Inject(AccountsQueries) private readonly accounts: AccountsQueries,
    @Optional() @Inject(ACCOUNT_BALANCE_READER) private readonly balances?: AccountBalanceReader,
  ) {}

  @Post()
  async create(@Body() body: AdminCreateAccountDto, @Req() request: FastifyRequest) {
    const account = await this.commands.createAccountAsAdmin(body.email, this.metadata(request));
    return { id: account.id, email: account.email, created_at: account.createdAt };
  }

  @Get(":id")
  async get(@Param("id") id: string) {
    const account = await this.accounts.findById(id);
    if (!account) throw ApiError.notFound(`No account with id '${id}'.`, "account_not_found");
    const micros = this.balances ? await this.balances.balanceMicros(id) : 0;
    return {
      id: account.id,
      email: account.email,
      created_at: account.createdAt,
      balance_usd: microsToUsd(micros),
    };
  }

  @Post(":id/api-keys")
  async createKey(
    @Param("id") id: string,
    @Body() body: CreateApiKeyDto,
    @Req() request: FastifyRequest,
  ) {
    return createdKeyBody(await this.commands.createApiKey(id, body, this.metadata(request)));
  }

  @Delete(":id/api-keys/:keyId")
  @HttpCode(204)
  async revokeKey(
    @Param("id") id: string,
    @Param("keyId") keyId: string,
    @Req() request: FastifyRequest,
    @Body() _body: NoBody,
  ): Promise<void> {
    await this.commands.revokeApiKey(id, keyId, this.metadata(request));
  }

  private metadata(request: FastifyRequest) {
    return { actor: ADMIN_ACTOR, requestId: request.id };
  }
}
