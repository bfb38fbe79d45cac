import { Controller, Get, Inject, Req, Res } from "@nestjs/common";
import type { FastifyReply, FastifyRequest } from "fastify";
import { ApiOperation, ApiResponse, ApiTags } from "@nestjs/swagger";
import { ApiErrors } from "../api-docs/api-docs.decorators.ts";
import { CurrentPrincipal, RequirePermission } from "../auth/auth.decorators.ts";
import type { Principal } from "../auth/principal.ts";
import { RealtimeService } from "./realtime.service.ts";

/**
 * `GET /v1/realtime?model=` (and `/api/v1/realtime`): the realtime WebSocket. Upgrades reach
 * this route through realtime-upgrade.ts, so the rate limit and the API key guard run first; a
 * plain GET gets 426.
 */
@Controller(["v1", "api/v1"])
@RequirePermission("proxy")
@ApiTags("OpenAI-compatible")
export class RealtimeController {
  constructor(@Inject(RealtimeService) private readonly realtime: RealtimeService) {}

  @Get("realtime")
  @ApiOperation({
    summary: "Open a realtime session (WebSocket upgrade; `model` query parameter; subprotocol " +
      "`realtime`, key as Bearer or `openai-insecure-api-key.<key>`)",
  })
  @ApiResponse({ status: 101, description: "Switching Protocols: the realtime session is open." })
  @ApiErrors(
    [426, "`upgrade_required`: a plain GET, not an upgrade."],
    [400, "`model_not_realtime`, `missing_required_parameter`, `invalid_websocket_handshake`."],
    402,
    [404, "`model_not_found`: no such model for this account."],
    [502, "`realtime_upstream_unavailable`: the upstream did not accept the socket."],
  )
  open(
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
    @CurrentPrincipal() principal: Principal,
  ) {
    return this.realtime.open(principal, request, reply);
  }
}
