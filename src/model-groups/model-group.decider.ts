import { DomainError } from "../common/domain-error.ts";
import type { Decider } from "../event-store/command-handler.ts";
import type {
  ModelGroupCreated,
  ModelGroupDeleted,
  ModelGroupMember,
  ModelGroupNameClaimed,
  ModelGroupNameReleased,
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

export type ModelGroupNameEvent =
  | { type: "ModelGroupNameClaimed"; data: ModelGroupNameClaimed }
  | { type: "ModelGroupNameReleased"; data: ModelGroupNameReleased };

export interface ModelGroupNameKey {
  accountId: string;
  name: string;
  groupId: string;
}

export type ModelGroupNameCommand =
  | ({ type: "ClaimModelGroupName"; at: string } & ModelGroupNameKey)
  | ({ type: "ReleaseModelGroupName"; reason: string; at: string } & ModelGroupNameKey);

export interface ModelGroupNameState {
  holder?: { groupId: string; claimedAt: string };
}

/** Group names are unique per account, race-free: the claim stream's revision decides. */
export const modelGroupNameDecider: Decider<
  ModelGroupNameCommand,
  ModelGroupNameEvent,
  ModelGroupNameState
> = {
  decide(command, state) {
    const { accountId, name, groupId } = command;
    switch (command.type) {
      case "ClaimModelGroupName":
        if (state.holder?.groupId === groupId) return [];
        if (state.holder) throw modelGroupNameTaken(name);
        return [{
          type: "ModelGroupNameClaimed",
          data: { accountId, name, groupId, claimedAt: command.at },
        }];
      case "ReleaseModelGroupName":
        if (state.holder?.groupId !== groupId) return [];
        return [{
          type: "ModelGroupNameReleased",
          data: { accountId, name, groupId, reason: command.reason, releasedAt: command.at },
        }];
    }
  },
  evolve(_state, event) {
    switch (event.type) {
      case "ModelGroupNameClaimed":
        return { holder: { groupId: event.data.groupId, claimedAt: event.data.claimedAt } };
      case "ModelGroupNameReleased":
        return {};
    }
  },
  initialState: () => ({}),
};
