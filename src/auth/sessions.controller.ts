import { ApiOperation, ApiTags } from "@nestjs/swagger";
import { ApiErrors } from "../api-docs/api-docs.decorators.ts";
import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Inject,
  Param,
  Post,
  Req,
  Res,
} from "@nestjs/common";
import type { FastifyReply, FastifyRequest } from "fastify";
import { ApiError } from "../common/api-error.ts";
import { NoBody } from "../common/validation.ts";
import { AccountCommandHandler } from "./account.handler.ts";
import { CurrentPrincipal, RequirePermission } from "./auth.decorators.ts";
import type { AuthenticatedRequest } from "./auth.guards.ts";
import type { Principal } from "./principal.ts";
import { clearSessionCookies } from "./session-cookie.ts";
import { SessionsQueries } from "./sessions.queries.ts";

/** The account's login sessions: list them, end one, end all but this one, log out. */
@Controller("api/auth")
@ApiTags("Sessions")
export class SessionsController {
  constructor(
    @Inject(AccountCommandHandler) private readonly commands: AccountCommandHandler,
    @Inject(SessionsQueries) private readonly sessions: SessionsQueries,
  ) {}

  /** Ends the calling session (an API key has none to end); a cookie is cleared too. */
  @Post("logout")
  @ApiOperation({ summary: "End the current session (and clear its cookie)" })
  @HttpCode(204)
  @RequirePermission("read")
  async logout(
    @CurrentPrincipal() principal: Principal,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
    @Body() _body: NoBody,
  ): Promise<void> {
    if (principal.kind !== "session" || !principal.sessionId) {
      throw ApiError.badRequest(
        "Log out ends a login session; this request used an API key. Revoke a key with " +
          "DELETE /api/keys/{id}.",
        null,
        "not_a_session",
      );
    }
    await this.commands.endSession(principal.accountId, principal.sessionId, "logout", {
      actor: principal.actor,
      requestId: request.id,
    });
    if ((request as unknown as AuthenticatedRequest).viaSessionCookie) {
      clearSessionCookies(reply, request);
    }
  }

  @Get("sessions")
  @ApiOperation({ summary: "The account's live sessions" })
  @RequirePermission("read")
  async list(@CurrentPrincipal() principal: Principal) {
    const sessions = await this.sessions.liveSessions(principal.accountId);
    return {
      object: "list",
      data: sessions.map((session) => ({
        id: session.id,
        object: "session",
        created_at: session.createdAt,
        expires_at: session.expiresAt,
        current: session.id === principal.sessionId,
      })),
    };
  }

  @Delete("sessions/:id")
  @ApiOperation({ summary: "End one session" })
  @ApiErrors([404, "`session_not_found`: no live session with this id on the account."])
  @HttpCode(204)
  @RequirePermission("manage")
  async revoke(
    @Param("id") id: string,
    @CurrentPrincipal() principal: Principal,
    @Req() request: FastifyRequest,
    @Body() _body: NoBody,
  ): Promise<void> {
    await this.commands.endSession(principal.accountId, id, "revoked", {
      actor: principal.actor,
      requestId: request.id,
    });
  }

  /** Every session but the caller's own (all of them when an API key calls). */
  @Post("sessions/revoke-others")
  @ApiOperation({ summary: "End every session but the current one" })
  @HttpCode(200)
  @RequirePermission("manage")
  async revokeOthers(
    @CurrentPrincipal() principal: Principal,
    @Req() request: FastifyRequest,
    @Body() _body: NoBody,
  ) {
    const result = await this.commands.endOtherSessions(principal.accountId, principal.sessionId, {
      actor: principal.actor,
      requestId: request.id,
    });
    return { revoked: result.revoked };
  }
}
