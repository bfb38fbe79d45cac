import { Controller, Get, Inject, Post, Req, Res } from "@nestjs/common";
import type { FastifyReply, FastifyRequest } from "fastify";
import { ApiBody, ApiOkResponse, ApiOperation, ApiTags } from "@nestjs/swagger";
import { ApiErrors } from "../api-docs/api-docs.decorators.ts";
import {
  CHAT_COMPLETION_REQUEST,
  COMPLETION_REQUEST,
  EMBEDDINGS_REQUEST,
  RESPONSES_REQUEST,
} from "../api-docs/request-schemas.ts";
import { CurrentPrincipal, RequirePermission } from "../auth/auth.decorators.ts";
import type { Principal } from "../auth/principal.ts";
import { InferenceService } from "./inference.service.ts";
import { ModelsService } from "./models.service.ts";

/**
 * The OpenAI-compatible API under `/v1` and `/api/v1`. Bodies are validated by the pure
 * validators in ./validation (not the global whitelist pipe: unknown fields must pass through).
 */
@Controller(["v1", "api/v1"])
@RequirePermission("proxy")
@ApiTags("OpenAI-compatible")
export class InferenceController {
  constructor(
    @Inject(InferenceService) private readonly inference: InferenceService,
    @Inject(ModelsService) private readonly models: ModelsService,
  ) {}

  @Post("chat/completions")
  @ApiOperation({ summary: "Create a chat completion (OpenAI-compatible; `stream` for SSE)" })
  @ApiBody({ schema: CHAT_COMPLETION_REQUEST })
  @ApiOkResponse({ description: "A `chat.completion`, or `text/event-stream` chunks." })
  @ApiErrors(402, [404, "`model_not_found`: no such model for this account."], 502, 504)
  chat(
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
    @CurrentPrincipal() principal: Principal,
  ) {
    return this.inference.chat({ request, reply, principal });
  }

  @Post("completions")
  @ApiOperation({ summary: "Create a completion (legacy OpenAI API)" })
  @ApiBody({ schema: COMPLETION_REQUEST })
  @ApiOkResponse({ description: "A `text_completion`, or `text/event-stream` chunks." })
  @ApiErrors(402, [404, "`model_not_found`: no such model for this account."], 502, 504)
  completions(
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
    @CurrentPrincipal() principal: Principal,
  ) {
    return this.inference.completions({ request, reply, principal });
  }

  @Post("embeddings")
  @ApiOperation({ summary: "Create embeddings" })
  @ApiBody({ schema: EMBEDDINGS_REQUEST })
  @ApiOkResponse({ description: "A list of `embedding` objects." })
  @ApiErrors(402, [404, "`model_not_found`: no such model for this account."], 502, 504)
  embeddings(
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
    @CurrentPrincipal() principal: Principal,
  ) {
    return this.inference.embeddings({ request, reply, principal });
  }

  @Post("responses")
  @ApiOperation({ summary: "Create a model response (OpenAI Responses API)" })
  @ApiBody({ schema: RESPONSES_REQUEST })
  @ApiOkResponse({ description: "A `response`, or `text/event-stream` events." })
  @ApiErrors(402, [404, "`model_not_found`: no such model for this account."], 502, 504)
  responses(
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
    @CurrentPrincipal() principal: Principal,
  ) {
    return this.inference.responses({ request, reply, principal });
  }

  @Get("models")
  @ApiOperation({ summary: "List the models this account can call" })
  listModels(@CurrentPrincipal() principal: Principal) {
    return { object: "list", data: this.models.list(principal.accountId) };
  }

  /** Ids may hold `/` and `:` (`org/name:tag`); clients send `/` as `%2F` or raw. */
  @Get("models/*")
  @ApiOperation({ summary: "Retrieve a model (its id may contain `/` and `:`)" })
  @ApiErrors([404, "`model_not_found`"])
  retrieveModel(@Req() request: FastifyRequest, @CurrentPrincipal() principal: Principal) {
    const path = request.url.split("?")[0];
    const marker = "/models/";
    const encoded = path.slice(path.indexOf(marker) + marker.length);
    let id: string;
    try {
      id = decodeURIComponent(encoded);
    } catch {
      // A malformed escape names no model: the same 404 as any unknown id, not a 500.
      id = encoded;
    }
    return this.models.retrieve(principal.accountId, id);
  }
}
