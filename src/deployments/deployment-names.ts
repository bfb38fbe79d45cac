import {
  type NameClaimCommand,
  nameClaimDecider,
  type NameClaimEvent,
  type NameClaimKey,
  nameClaimStream,
} from "../event-store/name-claims.ts";
import { DeploymentRejected } from "./deployment.decider.ts";

/**
 * Deployment names are unique per account, decided race-free on
 * `deploymentname-<sha256(account, name)>` (event-store/name-claims.ts): claimed before the
 * deployment is requested, released when it is terminated or removed, or when its request fails.
 * Stores written before claims existed have live deployments without one: the read model's check
 * (`DeploymentsQueries.hasName`) still refuses those names first.
 */

/** Stored as `DeploymentNameClaimed` / `DeploymentNameReleased`, `deploymentId` the holder. */
export type DeploymentNameKey = NameClaimKey<"deploymentId">;
export type DeploymentNameCommand = NameClaimCommand<"deploymentId">;
export type DeploymentNameEvent = NameClaimEvent<
  "deploymentId",
  "DeploymentNameClaimed",
  "DeploymentNameReleased"
>;

export const deploymentNameStream = (accountId: string, name: string) =>
  nameClaimStream("deploymentname", accountId, name);

/** The one refusal of a taken name, whether the read model or the claim stream saw it first. */
export const deploymentNameTaken = (name: string) =>
  new DeploymentRejected("deployment_exists", `A deployment named '${name}' already exists.`);

/** Release reasons: `terminated`, `removed`, `request_failed`, or `stale`. */
export const deploymentNameKind = {
  claimed: "DeploymentNameClaimed",
  released: "DeploymentNameReleased",
  holderField: "deploymentId",
  taken: deploymentNameTaken,
} as const;

export const deploymentNameDecider = nameClaimDecider(deploymentNameKind);
