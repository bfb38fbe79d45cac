import { ApiOperation, ApiTags } from "@nestjs/swagger";
import { ApiErrors } from "../api-docs/api-docs.decorators.ts";
import { Body, Controller, HttpCode, Inject, Post, Req, Res } from "@nestjs/common";
import type { FastifyReply, FastifyRequest } from "fastify";
import { APP_CONFIG, type AppConfig } from "../config/config.ts";
import { RateLimit } from "../rate-limit/rate-limit.decorators.ts";
import { AccountCommandHandler } from "./account.handler.ts";
import { LoginDto, SignUpDto } from "./dto/credentials.dto.ts";
import { csrfTokenFor, setSessionCookies } from "./session-cookie.ts";

/**
 * Sign-up and login; the password endpoints get a tenth of the per-IP budget. Both answer the
 * session token (API clients send it as a bearer) and set it as the console's cookie, with the
 * CSRF token the console echoes on changes.
 */
@Controller("api/auth")
@RateLimit("auth", (perMinute) => Math.max(1, Math.floor(perMinute / 10)))
@ApiTags("Auth")
export class AuthController {
  constructor(
    @Inject(AccountCommandHandler) private readonly commands: AccountCommandHandler,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Post("signup")
  @ApiOperation({ summary: "Create an account with email and password; returns a session" })
  @ApiErrors([409, "`email_taken`: an account already uses this email."])
  async signUp(
    @Body() body: SignUpDto,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    const result = await this.commands.signUp(body.email, body.password, { requestId: request.id });
    setSessionCookies(reply, request, result.token, this.config.sessionTtlSeconds);
    return {
      account_id: result.accountId,
      token: result.token,
      csrf_token: csrfTokenFor(result.token),
    };
  }

  @Post("login")
  @ApiOperation({ summary: "Log in with email and password; returns a session" })
  @ApiErrors(
    [401, "`invalid_credentials`: wrong email or password."],
    [403, "`account_disabled`"],
    [429, "`login_throttled`: too many failures for this email; see `Retry-After`."],
  )
  @HttpCode(200)
  async login(
    @Body() body: LoginDto,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    const result = await this.commands.login(body.email, body.password, { requestId: request.id });
    setSessionCookies(reply, request, result.token, this.config.sessionTtlSeconds);
    return { token: result.token, csrf_token: csrfTokenFor(result.token) };
  }
}
