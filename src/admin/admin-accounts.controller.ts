import { ApiOperation, ApiTags } from "@nestjs/swagger";
import { ApiErrors } from "../api-docs/api-docs.decorators.ts";
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
  Query,
  Req,
} from "@nestjs/common";
import type { FastifyRequest } from "fastify";
import { ApiError } from "../common/api-error.ts";
import { NoBody } from "../common/validation.ts";
import { microsToUsd } from "../common/money.ts";
import { parseLimit, queryString } from "../common/query-params.ts";
import { AccountCommandHandler } from "../auth/account.handler.ts";
import { AccountsQueries, type AccountSummary } from "../auth/accounts.queries.ts";
import { ApiKeyCommandHandler } from "../auth/api-key.handler.ts";
import { createdKeyBody } from "../auth/api-keys.responses.ts";
import { AdminOnly } from "../auth/auth.decorators.ts";
import { AdminCreateAccountDto, CreateApiKeyDto } from "../auth/dto/credentials.dto.ts";
import { ADMIN_ACTOR } from "../auth/principal.ts";
import { ACCOUNT_BALANCE_READER, type AccountBalanceReader } from "../billing/balance-reader.ts";

/** Operators' account API (`Authorization: Bearer $ADMIN_API_KEY`); every action names the actor. */
@Controller("admin/accounts")
@AdminOnly()
@ApiTags("Admin")
export class AdminAccountsController {
  constructor(
    @Inject(AccountCommandHandler) private readonly commands: AccountCommandHandler,
    @Inject(ApiKeyCommandHandler) private readonly keys: ApiKeyCommandHandler,
    @Inject(AccountsQueries) private readonly accounts: AccountsQueries,
    @Optional() @Inject(ACCOUNT_BALANCE_READER) private readonly balances?: AccountBalanceReader,
  ) {}

  @Post()
  @ApiOperation({ summary: "Create an account" })
  @ApiErrors([409, "`email_taken`: an account already uses this email."])
  async create(@Body() body: AdminCreateAccountDto, @Req() request: FastifyRequest) {
    const account = await this.commands.createAccountAsAdmin(body.email, this.metadata(request));
    return { id: account.id, email: account.email, created_at: account.createdAt };
  }

  /**
   * Accounts whose email contains `q` or whose id starts with it, by id, `limit` (1–100, default
   * 20) at a time; `cursor` is the previous page's `next_cursor`.
   */
  @Get()
  @ApiOperation({ summary: "Find accounts by email (`q`), paged with `cursor`" })
  async search(
    @Query("q") q?: unknown,
    @Query("limit") limit?: unknown,
    @Query("cursor") cursor?: unknown,
  ) {
    const page = await this.accounts.search(
      queryString(q, "q", 254),
      parseLimit(limit, { fallback: 20, max: 100 }),
      queryString(cursor, "cursor"),
    );
    return {
      object: "list",
      data: await Promise.all(page.accounts.map((account) => this.view(account))),
      next_cursor: page.nextCursor,
    };
  }

  @Get(":id")
  @ApiOperation({ summary: "An account with its live balance" })
  @ApiErrors([404, "`account_not_found`"])
  async get(@Param("id") id: string) {
    return await this.view(await this.existing(id));
  }

  /** Its keys and sessions are refused (403 account_disabled) from the next request on. */
  @Post(":id/disable")
  @ApiOperation({ summary: "Disable an account: its keys and sessions stop working" })
  @ApiErrors([404, "`account_not_found`"])
  @HttpCode(200)
  async disable(@Param("id") id: string, @Req() request: FastifyRequest, @Body() _body: NoBody) {
    await this.commands.disableAccount(id, this.metadata(request));
    return await this.view(await this.existing(id));
  }

  @Post(":id/enable")
  @ApiOperation({ summary: "Enable a disabled account" })
  @ApiErrors([404, "`account_not_found`"])
  @HttpCode(200)
  async enable(@Param("id") id: string, @Req() request: FastifyRequest, @Body() _body: NoBody) {
    await this.commands.enableAccount(id, this.metadata(request));
    return await this.view(await this.existing(id));
  }

  @Post(":id/api-keys")
  @ApiOperation({ summary: "Create an API key for an account (the secret is shown once)" })
  @ApiErrors([404, "`account_not_found`"])
  async createKey(
    @Param("id") id: string,
    @Body() body: CreateApiKeyDto,
    @Req() request: FastifyRequest,
  ) {
    return createdKeyBody(
      await this.keys.createApiKey(id, {
        name: body.name,
        permissions: body.permissions,
        expiresAt: body.expires_at,
      }, this.metadata(request)),
    );
  }

  @Delete(":id/api-keys/:keyId")
  @ApiOperation({ summary: "Revoke an account's API key" })
  @ApiErrors([404, "`account_not_found` or `api_key_not_found`"])
  @HttpCode(204)
  async revokeKey(
    @Param("id") id: string,
    @Param("keyId") keyId: string,
    @Req() request: FastifyRequest,
    @Body() _body: NoBody,
  ): Promise<void> {
    await this.keys.revokeApiKey(id, keyId, this.metadata(request));
  }

  private async existing(id: string): Promise<AccountSummary> {
    const account = await this.accounts.findById(id);
    if (!account) throw ApiError.notFound(`No account with id '${id}'.`, "account_not_found");
    return account;
  }

  private async view(account: AccountSummary) {
    const micros = this.balances ? await this.balances.balanceMicros(account.id) : 0;
    return {
      id: account.id,
      email: account.email,
      created_at: account.createdAt,
      disabled: account.disabled,
      balance_usd: microsToUsd(micros),
    };
  }

  private metadata(request: FastifyRequest) {
    return { actor: ADMIN_ACTOR, requestId: request.id };
  }
}
