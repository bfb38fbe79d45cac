import { Controller, Get, Inject, Post, Req, Res } from "@nestjs/common";
import type { FastifyReply, FastifyRequest } from "fastify";
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
export class InferenceController {
  constructor(
    @Inject(InferenceService) private readonly inference: InferenceService,
    @Inject(ModelsService) private readonly models: ModelsService,
  ) {}

  @Post("chat/completions")
  chat(
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
    @CurrentPrincipal() principal: Principal,
  ) {
    return this.inference.chat({ request, reply, principal });
  }

  @Post("completions")
  completions(
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
    @CurrentPrincipal() principal: Principal,
  ) {
    return this.inference.completions({ request, reply, principal });
  }

  @Post("embeddings")
  embeddings(
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
    @CurrentPrincipal() principal: Principal,
  ) {
    return this.inference.embeddings({ request, reply, principal });
  }

  @Post("responses")
  responses(
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
    @CurrentPrincipal() principal: Principal,
  ) {
    return this.inference.responses({ request, reply, principal });
  }

  @Get("models")
  listModels(@CurrentPrincipal() principal: Principal) {
    return { object: "list", data: this.models.list(principal.accountId) };
  }

  /** Ids may hold `/` and `:` (`org/name:tag`); clients send `/` as `%2F` or raw. */
  @Get("models/*")
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
