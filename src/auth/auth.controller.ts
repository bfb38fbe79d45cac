import { Body, Controller, HttpCode, Inject, Post, Req } from "@nestjs/common";
import type { FastifyRequest } from "fastify";
import { RateLimit } from "../rate-limit/rate-limit.decorators.ts";
import { AccountCommandHandler } from "./account.handler.ts";
import { LoginDto, SignUpDto } from "./dto/credentials.dto.ts";

/** Sign-up and login; the password endpoints get a tenth of the per-IP budget. */
@Controller("api/auth")
@RateLimit("auth", (perMinute) => Math.max(1, Math.floor(perMinute / 10)))
export class AuthController {
  constructor(@Inject(AccountCommandHandler) private readonly commands: AccountCommandHandler) {}

  @Post("signup")
  async signUp(@Body() body: SignUpDto, @Req() request: FastifyRequest) {
    const result = await this.commands.signUp(body.email, body.password, { requestId: request.id });
    return { account_id: result.accountId, token: result.token };
  }

  @Post("login")
  @HttpCode(200)
  async login(@Body() body: LoginDto, @Req() request: FastifyRequest) {
    const result = await this.commands.login(body.email, body.password, { requestId: request.id });
    return { token: result.token };
  }
}
