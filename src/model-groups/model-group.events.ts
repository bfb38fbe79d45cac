import { nameClaimStream } from "../event-store/name-claims.ts";

/**
 * Model groups: one name that routes each request to one of several members (the account's
 * deployments or catalogue models) by a strategy. Facts about a group are on `modelgroup-<id>`;
 * its name is claimed on `modelgroupname-<sha256(account, name)>` so two creations of one name
 * cannot both win. Neither category has a `-` inside (EventStoreDB category projections).
 */
export type ModelGroupStrategy = "fallback" | "round_robin" | "weighted" | "least_busy";

export const MODEL_GROUP_STRATEGIES: readonly ModelGroupStrategy[] = [
  "fallback",
  "round_robin",
  "weighted",
  "least_busy",
];

/** One member as it was named at creation; requests resolve `model` the way a client's would. */
export interface ModelGroupMember {
  /** What a request would pass as `model` to reach it (a deployment name or a catalogue id). */
  model: string;
  kind: "deployment" | "catalogue";
  /** The deployment `model` named at creation (kind `deployment`). */
  deploymentId?: string;
  /** Strategy `weighted`: this member's share, a positive integer. */
  weight?: number;
}

export interface ModelGroupCreated {
  groupId: string;
  accountId: string;
  name: string;
  strategy: ModelGroupStrategy;
  members: ModelGroupMember[];
  createdAt: string;
}

export interface ModelGroupDeleted {
  groupId: string;
  accountId: string;
  name: string;
  deletedAt: string;
}

export interface ModelGroupEventMap {
  ModelGroupCreated: ModelGroupCreated;
  ModelGroupDeleted: ModelGroupDeleted;
}

export const MODEL_GROUP_EVENT_TYPES = ["ModelGroupCreated", "ModelGroupDeleted"] as const;

export const modelGroupStream = (groupId: string) => `modelgroup-${groupId}`;

export const modelGroupNameStream = (accountId: string, name: string) =>
  nameClaimStream("modelgroupname", accountId, name);
