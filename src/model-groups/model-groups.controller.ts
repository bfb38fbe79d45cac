import { ApiBody, ApiOperation, ApiResponse, ApiTags } from "@nestjs/swagger";
import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Req } from "@nestjs/common";
import type { FastifyRequest } from "fastify";
import { ApiErrors } from "../api-docs/api-docs.decorators.ts";
import { CurrentPrincipal, RequirePermission } from "../auth/auth.decorators.ts";
import type { Principal } from "../auth/principal.ts";
import { refuseUnknownFields } from "../deployments/deployment-fields.ts";
import { MODEL_GROUP_STRATEGIES } from "./model-group.events.ts";
import type { ModelGroupView } from "./model-groups.queries.ts";
import {
  MAX_GROUP_MEMBERS,
  MAX_MEMBER_WEIGHT,
  ModelGroupsService,
} from "./model-groups.service.ts";

const CREATE_MODEL_GROUP_REQUEST = {
  type: "object",
  required: ["name", "members", "strategy"],
  properties: {
    name: {
      type: "string",
      pattern: "^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$",
      description: "What clients pass as `model`; no deployment or catalogue model may have it.",
    },
    members: {
      type: "array",
      minItems: 1,
      maxItems: MAX_GROUP_MEMBERS,
      items: { type: "string", maxLength: 256 },
      description: "The account's deployments (name or id) or catalogue models, in order.",
    },
    strategy: { type: "string", enum: [...MODEL_GROUP_STRATEGIES] },
    weights: {
      type: "array",
      items: { type: "integer", minimum: 1, maximum: MAX_MEMBER_WEIGHT },
      description: "Strategy `weighted` only: one positive integer per member.",
    },
  },
  additionalProperties: false,
};

/** Model groups: one `model` name routed over several deployments or catalogue models. */
@Controller("api/model-groups")
@ApiTags("Model groups")
export class ModelGroupsController {
  constructor(@Inject(ModelGroupsService) private readonly groups: ModelGroupsService) {}

  @Post()
  @ApiOperation({ summary: "Create a model group" })
  @ApiBody({ schema: CREATE_MODEL_GROUP_REQUEST })
  @ApiResponse({ status: 201, description: "The group; requests may name it at once." })
  @ApiErrors(
    [400, "A field is invalid, or a member is none of the account's models."],
    [403, "`model_group_limit_reached`"],
    [409, "`model_group_exists`: a group, deployment or catalogue model has the name."],
  )
  @RequirePermission("manage")
  async create(
    @Body() body: unknown,
    @CurrentPrincipal() principal: Principal,
    @Req() request: FastifyRequest,
  ) {
    const input = this.groups.parse(body);
    return groupBody(await this.groups.create(principal, input, String(request.id)));
  }

  @Get()
  @ApiOperation({ summary: "The account's model groups" })
  @RequirePermission("read")
  list(@CurrentPrincipal() principal: Principal) {
    return { object: "list", data: this.groups.list(principal.accountId).map(groupBody) };
  }

  @Get(":id")
  @ApiOperation({ summary: "One model group" })
  @ApiErrors([404, "`model_group_not_found`"])
  @RequirePermission("read")
  get(@Param("id") id: string, @CurrentPrincipal() principal: Principal) {
    return groupBody(this.groups.get(principal.accountId, id));
  }

  @Delete(":id")
  @ApiOperation({ summary: "Delete a model group (its members are untouched)" })
  @ApiErrors([404, "`model_group_not_found`"])
  @HttpCode(200)
  @RequirePermission("manage")
  async delete(
    @Param("id") id: string,
    @CurrentPrincipal() principal: Principal,
    @Req() request: FastifyRequest,
    @Body() body: unknown,
  ) {
    refuseUnknownFields(body, []);
    return {
      ...groupBody(await this.groups.delete(principal, id, String(request.id))),
      deleted: true,
    };
  }
}

/** The public shape of a group. */
function groupBody(group: ModelGroupView) {
  return {
    id: group.id,
    object: "model_group",
    name: group.name,
    strategy: group.strategy,
    members: group.members.map((member) => ({
      model: member.model,
      kind: member.kind,
      deployment_id: member.deploymentId ?? null,
      ...(member.weight !== undefined ? { weight: member.weight } : {}),
    })),
    created_at: group.createdAt,
  };
}
