import { DomainError } from "../common/domain-error.ts";
import type { Decider } from "../event-store/command-handler.ts";
import { nameClaimDecider, type NameClaimEvent } from "../event-store/name-claims.ts";
import type {
  ModelGroupCreated,
  ModelGroupDeleted,
  ModelGroupMember,
  ModelGroupStrategy,
} from "./model-group.events.ts";

/** Refusals of the model-group rules (codes mapped to HTTP in the exception filter's table). */
export class ModelGroupRejected extends DomainError<
  "model_group_exists" | "model_group_not_found" | "model_group_limit_reached"
> {}

export const modelGroupNotFound = (id: string) =>
  new ModelGroupRejected(
    "model_group_not_found",
    `No model group '${id.slice(0, 64)}' in this account.`,
    "id",
  );

/** The one refusal of a taken name, whether a group, a deployment or a catalogue model has it. */
export const modelGroupNameTaken = (name: string, holder = "A model group") =>
  new ModelGroupRejected(
    "model_group_exists",
    `${holder} named '${name}' already exists.`,
    "name",
  );

// ---- the group stream -------------------------------------------------------------------

export type ModelGroupEvent =
  | { type: "ModelGroupCreated"; data: ModelGroupCreated }
  | { type: "ModelGroupDeleted"; data: ModelGroupDeleted };

export type ModelGroupCommand =
  | {
    type: "CreateModelGroup";
    groupId: string;
    accountId: string;
    name: string;
    strategy: ModelGroupStrategy;
    members: ModelGroupMember[];
    at: string;
  }
  | { type: "DeleteModelGroup"; groupId: string; accountId: string; at: string };

export interface ModelGroupState {
  status: "none" | "active" | "deleted";
  accountId?: string;
  name?: string;
}

export const modelGroupDecider: Decider<ModelGroupCommand, ModelGroupEvent, ModelGroupState> = {
  decide(command, state) {
    switch (command.type) {
      case "CreateModelGroup": {
        // The id comes from the request: the same creation decided twice appends once.
        if (state.status !== "none") return [];
        const { groupId, accountId, name, strategy, members, at } = command;
        return [{
          type: "ModelGroupCreated",
          data: { groupId, accountId, name, strategy, members, createdAt: at },
        }];
      }
      case "DeleteModelGroup":
        if (state.status !== "active" || state.accountId !== command.accountId) {
          throw modelGroupNotFound(command.groupId);
        }
        return [{
          type: "ModelGroupDeleted",
          data: {
            groupId: command.groupId,
            accountId: command.accountId,
            name: state.name!,
            deletedAt: command.at,
          },
        }];
    }
  },
  evolve(state, event) {
    switch (event.type) {
      case "ModelGroupCreated":
        return { status: "active", accountId: event.data.accountId, name: event.data.name };
      case "ModelGroupDeleted":
        return { ...state, status: "deleted" };
    }
  },
  initialState: () => ({ status: "none" }),
};

// ---- the name claim stream --------------------------------------------------------------

/**
 * Group names are unique per account, race-free (event-store/name-claims.ts), stored as
 * `ModelGroupNameClaimed` / `ModelGroupNameReleased` with `groupId` as the holder. Release
 * reasons: `deleted`, `request_failed`, or `stale` (its group was deleted or never created).
 */
export type ModelGroupNameEvent = NameClaimEvent<
  "groupId",
  "ModelGroupNameClaimed",
  "ModelGroupNameReleased"
>;

export const modelGroupNameKind = {
  claimed: "ModelGroupNameClaimed",
  released: "ModelGroupNameReleased",
  holderField: "groupId",
  taken: (name: string) => modelGroupNameTaken(name),
} as const;

export const modelGroupNameDecider = nameClaimDecider(modelGroupNameKind);
