import { Inject, Injectable } from "@nestjs/common";
import type { Principal } from "../auth/principal.ts";
import { ModelCatalogue } from "../catalogue/catalogue.ts";
import { invalid, MAX_MODEL_LENGTH, typeName } from "../common/body-fields.ts";
import { CLOCK, type Clock } from "../common/clock.ts";
import { newId } from "../common/ids.ts";
import { DEPLOYMENT_NAME, refuseUnknownFields } from "../deployments/deployment-fields.ts";
import { DeploymentsQueries } from "../deployments/deployments.queries.ts";
import {
  modelGroupNameTaken,
  modelGroupNotFound,
  ModelGroupRejected,
} from "./model-group.decider.ts";
import {
  MODEL_GROUP_STRATEGIES,
  type ModelGroupMember,
  type ModelGroupStrategy,
} from "./model-group.events.ts";
import { ModelGroupCommandHandler } from "./model-group.handler.ts";
import { ModelGroupsQueries, type ModelGroupView } from "./model-groups.queries.ts";

/** Every field `POST /api/model-groups` takes. */
export const MODEL_GROUP_FIELDS = ["name", "members", "strategy", "weights"] as const;
/** Most members one group routes over (each is tried at most once per request). */
export const MAX_GROUP_MEMBERS = 16;
/** Most live groups per account (also bounds the routing index). */
export const MAX_MODEL_GROUPS_PER_ACCOUNT = 50;
/** Largest `weighted` share: enough for percentages, small enough to stay meaningful. */
export const MAX_MEMBER_WEIGHT = 1_000;
/** `grp_…` ids; anything else is not looked up (a client-written id is a stream name). */
const GROUP_ID = /^grp_[A-Za-z0-9]{1,40}$/;

export interface CreateModelGroup {
  name: string;
  members: string[];
  strategy: ModelGroupStrategy;
  weights?: number[];
}

/** Creating, listing and deleting an account's model groups. */
@Injectable()
export class ModelGroupsService {
  constructor(
    @Inject(ModelGroupCommandHandler) private readonly handler: ModelGroupCommandHandler,
    @Inject(ModelGroupsQueries) private readonly queries: ModelGroupsQueries,
    @Inject(DeploymentsQueries) private readonly deployments: DeploymentsQueries,
    @Inject(ModelCatalogue) private readonly catalogue: ModelCatalogue,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  /** The body's shape; every failure is a 400 naming its field. */
  parse(body: unknown): CreateModelGroup {
    if (typeof body !== "object" || body === null || Array.isArray(body)) {
      throw invalid("name", "The request body must be a JSON object.", "invalid_json");
    }
    refuseUnknownFields(body, MODEL_GROUP_FIELDS);
    const fields = body as Record<string, unknown>;
    const name = fields.name;
    if (typeof name !== "string" || !DEPLOYMENT_NAME.test(name)) {
      throw invalid(
        "name",
        "Invalid 'name': use 1-128 letters, digits and . _ : / - (starting with a letter or digit).",
      );
    }
    const strategy = fields.strategy;
    if (!MODEL_GROUP_STRATEGIES.includes(strategy as ModelGroupStrategy)) {
      throw invalid(
        "strategy",
        `Invalid 'strategy': expected one of ${MODEL_GROUP_STRATEGIES.join(", ")}.`,
      );
    }
    const members = fields.members;
    if (!Array.isArray(members) || members.length === 0 || members.length > MAX_GROUP_MEMBERS) {
      throw invalid(
        "members",
        `Invalid 'members': expected an array of 1 to ${MAX_GROUP_MEMBERS} model names.`,
      );
    }
    members.forEach((member, index) => {
      if (typeof member !== "string" || member === "" || member.length > MAX_MODEL_LENGTH) {
        throw invalid(
          `members[${index}]`,
          `Invalid 'members[${index}]': expected a model name of 1 to ${MAX_MODEL_LENGTH} characters, got ${
            typeName(member)
          }.`,
        );
      }
    });
    if (new Set(members).size !== members.length) {
      throw invalid("members", "Invalid 'members': a model may be listed once.");
    }
    const weights = parseWeights(fields.weights, strategy as ModelGroupStrategy, members.length);
    return {
      name,
      members: members as string[],
      strategy: strategy as ModelGroupStrategy,
      ...(weights ? { weights } : {}),
    };
  }

  async create(
    principal: Principal,
    input: CreateModelGroup,
    requestId?: string,
  ): Promise<ModelGroupView> {
    const accountId = principal.accountId;
    // A deployment or catalogue model of that name would be routed to instead of the group.
    if (this.deployments.resolve(accountId, input.name)) {
      throw modelGroupNameTaken(input.name, "A deployment");
    }
    if (this.catalogue.get(input.name)) throw modelGroupNameTaken(input.name, "A catalogue model");
    if (this.queries.listForAccount(accountId).length >= MAX_MODEL_GROUPS_PER_ACCOUNT) {
      throw new ModelGroupRejected(
        "model_group_limit_reached",
        `An account may have at most ${MAX_MODEL_GROUPS_PER_ACCOUNT} model groups.`,
      );
    }
    const members = input.members.map((model, index) =>
      this.member(accountId, model, index, input.weights?.[index])
    );
    const groupId = newId("grp", 20);
    const result = await this.handler.create({
      type: "CreateModelGroup",
      groupId,
      accountId,
      name: input.name,
      strategy: input.strategy,
      members,
      at: this.clock.now().toISOString(),
    }, { actor: principal.actor, requestId });
    await this.queries.waitFor(result.position!);
    return this.queries.get(accountId, groupId)!;
  }

  list(accountId: string): ModelGroupView[] {
    return this.queries.listForAccount(accountId);
  }

  get(accountId: string, id: string): ModelGroupView {
    const group = GROUP_ID.test(id) ? this.queries.get(accountId, id) : undefined;
    if (!group) throw modelGroupNotFound(id);
    return group;
  }

  async delete(principal: Principal, id: string, requestId?: string): Promise<ModelGroupView> {
    const group = this.get(principal.accountId, id);
    const result = await this.handler.delete({
      type: "DeleteModelGroup",
      groupId: id,
      accountId: principal.accountId,
      at: this.clock.now().toISOString(),
    }, { actor: principal.actor, requestId });
    if (result.position !== undefined) await this.queries.waitFor(result.position);
    return group;
  }

  /**
   * What `model` names for this account, as a request would resolve it: one of its deployments
   * (name, model identifier or id; not terminated) or a catalogue text/embedding model.
   */
  private member(
    accountId: string,
    model: string,
    index: number,
    weight: number | undefined,
  ): ModelGroupMember {
    const deployment = this.deployments.resolve(accountId, model) ??
      (/^[A-Za-z0-9_-]{1,64}$/.test(model) ? this.deployments.get(accountId, model) : undefined);
    const weighted = weight === undefined ? {} : { weight };
    if (deployment && deployment.status !== "terminated") {
      // By id: kept by name, which is what routing resolves (names are unique per account).
      const ref = deployment.id === model ? deployment.name : model;
      return { model: ref, kind: "deployment", deploymentId: deployment.id, ...weighted };
    }
    const entry = this.catalogue.get(model);
    if (entry && (entry.kind === "text" || entry.kind === "embedding")) {
      return { model: entry.id, kind: "catalogue", ...weighted };
    }
    if (this.queries.resolve(accountId, model)) {
      throw invalid(
        `members[${index}]`,
        `Invalid 'members[${index}]': a group cannot contain a group.`,
      );
    }
    throw invalid(
      `members[${index}]`,
      `Invalid 'members[${index}]': '${
        model.slice(0, 64)
      }' is none of this account's deployments and no text or embedding model of the catalogue.`,
      "model_not_found",
    );
  }
}

function parseWeights(
  weights: unknown,
  strategy: ModelGroupStrategy,
  count: number,
): number[] | undefined {
  if (weights === undefined || weights === null) {
    if (strategy === "weighted") {
      throw invalid(
        "weights",
        "Invalid 'weights': strategy 'weighted' needs one weight per member.",
      );
    }
    return undefined;
  }
  if (strategy !== "weighted") {
    throw invalid("weights", "Invalid 'weights': only strategy 'weighted' takes weights.");
  }
  if (!Array.isArray(weights) || weights.length !== count) {
    throw invalid("weights", `Invalid 'weights': expected ${count} weights, one per member.`);
  }
  weights.forEach((weight, index) => {
    if (!Number.isInteger(weight) || weight < 1 || weight > MAX_MEMBER_WEIGHT) {
      throw invalid(
        `weights[${index}]`,
        `Invalid 'weights[${index}]': expected an integer from 1 to ${MAX_MEMBER_WEIGHT}.`,
      );
    }
  });
  return weights as number[];
}
