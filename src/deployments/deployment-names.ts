import { createHash } from "node:crypto";
import type { Decider } from "../event-store/command-handler.ts";
import { DeploymentRejected } from "./deployment.decider.ts";

/**
 * Deployment names are unique per account, decided race-free: a deployment claims its name on
 * `deploymentname-<sha256(account, name)>` with the stream's expected revision before it is
 * requested, so two requests for one name cannot both win. The claim is released when the
 * deployment is terminated, or when its request fails. Stores written before claims existed have
 * live deployments without one: the read model's check (`DeploymentsQueries.hasName`) still
 * refuses those names first.
 */

export interface DeploymentNameClaimed {
  accountId: string;
  name: string;
  deploymentId: string;
  claimedAt: string;
}

export interface DeploymentNameReleased {
  accountId: string;
  name: string;
  deploymentId: string;
  /** `terminated`, `request_failed`, or `stale` (its deployment ended or never was requested). */
  reason: string;
  releasedAt: string;
}

export type DeploymentNameEvent =
  | { type: "DeploymentNameClaimed"; data: DeploymentNameClaimed }
  | { type: "DeploymentNameReleased"; data: DeploymentNameReleased };

export interface DeploymentNameState {
  /** The deployment holding the name, and since when. */
  holder?: { deploymentId: string; claimedAt: string };
}

export interface DeploymentNameKey {
  accountId: string;
  name: string;
  deploymentId: string;
}

export type DeploymentNameCommand =
  | ({ type: "ClaimDeploymentName"; at: string } & DeploymentNameKey)
  | ({ type: "ReleaseDeploymentName"; reason: string; at: string } & DeploymentNameKey);

/** The category has no `-` inside, so EventStoreDB's category projections see one category. */
export const deploymentNameStream = (accountId: string, name: string) =>
  `deploymentname-${createHash("sha256").update(`${accountId}\u0000${name}`).digest("hex")}`;

/** The one refusal of a taken name, whether the read model or the claim stream saw it first. */
export const deploymentNameTaken = (name: string) =>
  new DeploymentRejected("deployment_exists", `A deployment named '${name}' already exists.`);

export const deploymentNameDecider: Decider<
  DeploymentNameCommand,
  DeploymentNameEvent,
  DeploymentNameState
> = {
  decide(command, state) {
    const { accountId, name, deploymentId } = command;
    switch (command.type) {
      case "ClaimDeploymentName":
        if (state.holder?.deploymentId === deploymentId) return [];
        if (state.holder) throw deploymentNameTaken(name);
        return [{
          type: "DeploymentNameClaimed",
          data: { accountId, name, deploymentId, claimedAt: command.at },
        }];
      case "ReleaseDeploymentName":
        if (state.holder?.deploymentId !== deploymentId) return [];
        return [{
          type: "DeploymentNameReleased",
          data: { accountId, name, deploymentId, reason: command.reason, releasedAt: command.at },
        }];
    }
  },
  evolve(_state, event) {
    switch (event.type) {
      case "DeploymentNameClaimed":
        return {
          holder: { deploymentId: event.data.deploymentId, claimedAt: event.data.claimedAt },
        };
      case "DeploymentNameReleased":
        return {};
    }
  },
  initialState: () => ({}),
};
