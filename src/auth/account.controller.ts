import { ApiOperation, ApiTags } from "@nestjs/swagger";
import { ApiErrors } from "../api-docs/api-docs.decorators.ts";
import { Body, Controller, Get, HttpCode, Inject, Post, Req } from "@nestjs/common";
import type { FastifyRequest } from "fastify";
import { ApiError } from "../common/api-error.ts";
import { RateLimit } from "../rate-limit/rate-limit.decorators.ts";
import { AccountCommandHandler } from "./account.handler.ts";
import { AccountsQueries } from "./accounts.queries.ts";
import { CurrentPrincipal, RequirePermission } from "./auth.decorators.ts";
import type { AuthenticatedRequest } from "./auth.guards.ts";
import { ChangePasswordDto } from "./dto/credentials.dto.ts";
import type { Principal } from "./principal.ts";
import { csrfTokenFor, readCookie, SESSION_COOKIE } from "./session-cookie.ts";

/** The caller's own account: who they are, how they log in, and their password. */
@Controller("api")
@ApiTags("Account")
export class AccountController {
  constructor(
    @Inject(AccountCommandHandler) private readonly commands: AccountCommandHandler,
    @Inject(AccountsQueries) private readonly accounts: AccountsQueries,
  ) {}

  @Get("account")
  @ApiOperation({ summary: "The caller's account (with `csrf_token` for cookie callers)" })
  @ApiErrors([404, "`account_not_found`"])
  @RequirePermission("read")
  async get(@CurrentPrincipal() principal: Principal, @Req() request: FastifyRequest) {
    const account = await this.accounts.findById(principal.accountId);
    if (!account) throw ApiError.notFound("No such account.", "account_not_found");
    // The console learns its CSRF token here after a reload (the mp_csrf cookie has it too).
    const cookieToken = (request as unknown as AuthenticatedRequest).viaSessionCookie
      ? readCookie(request.headers.cookie, SESSION_COOKIE)
      : undefined;
    return {
      id: account.id,
      object: "account",
      email: account.email,
      created_at: account.createdAt,
      login_methods: account.loginMethods,
      disabled: account.disabled,
      ...(cookieToken ? { csrf_token: csrfTokenFor(cookieToken) } : {}),
    };
  }

  /** Guessing the current password here is throttled like logins (and by the auth budget). */
  @Post("auth/password")
  @ApiOperation({ summary: "Set or change the password; ends the account's other sessions" })
  @ApiErrors([400, "`invalid_current_password`, or a new password that is too short or long."])
  @HttpCode(204)
  @RequirePermission("manage")
  @RateLimit("auth", (perMinute) => Math.max(1, Math.floor(perMinute / 10)))
  async changePassword(
    @Body() body: ChangePasswordDto,
    @CurrentPrincipal() principal: Principal,
    @Req() request: FastifyRequest,
  ): Promise<void> {
    await this.commands.changePassword(principal.accountId, {
      currentPassword: body.current_password,
      newPassword: body.new_password,
      keptSessionId: principal.sessionId,
    }, { actor: principal.actor, requestId: request.id });
  }
}
