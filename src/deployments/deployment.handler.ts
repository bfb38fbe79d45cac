import { Inject, Injectable } from "@nestjs/common";
import { isDomainError } from "../common/domain-error.ts";
import { deterministicEventId, newEventId } from "../common/ids.ts";
import { logger } from "../common/json-logger.ts";
import {
  CommandHandler,
  type CommandResult,
  type StreamState,
} from "../event-store/command-handler.ts";
import {
  EVENT_STORE,
  type EventMetadata,
  type EventStore,
} from "../event-store/event-store.port.ts";
import {
  type DeploymentCommand,
  deploymentDecider,
  type DeploymentEvent,
  type DeploymentState,
} from "./deployment.decider.ts";
import { NameClaims } from "../event-store/name-claims.ts";
import {
  type DeploymentNameKey,
  deploymentNameKind,
  deploymentNameStream,
} from "./deployment-names.ts";
import { deploymentStream } from "./deployment.events.ts";

export type DeploymentResult = CommandResult<DeploymentEvent, DeploymentState>;

/** A name claimed this long ago by a deployment that was never requested belongs to a dead request. */
const NAME_CLAIM_ABANDONED_MS = 10 * 60_000;

/**
 * Writes to `deployment-<id>` and `deploymentname-<hash>` streams, through the shared
 * CommandHandler: two reconcilers or metering loops racing on one deployment append each fact
 * once, and two requests for one name cannot both claim it.
 */
@Injectable()
export class DeploymentCommandHandler {
  private readonly deployments: CommandHandler<DeploymentCommand, DeploymentEvent, DeploymentState>;
  private readonly names: NameClaims<
    "deploymentId",
    "DeploymentNameClaimed",
    "DeploymentNameReleased"
  >;

  constructor(@Inject(EVENT_STORE) store: EventStore) {
    this.deployments = new CommandHandler(store, deploymentDecider);
    this.names = new NameClaims(store, {
      ...deploymentNameKind,
      stream: deploymentNameStream,
      isStale: (holder, at) => this.isStale(holder.holderId, holder.claimedAt, at),
    });
  }

  load(deploymentId: string): Promise<StreamState<DeploymentState>> {
    return this.deployments.load(deploymentStream(deploymentId));
  }

  /** Decides `command` on the deployment's stream; a termination or removal gives its name back. */
  async handle(
    deploymentId: string,
    command: DeploymentCommand,
    metadata: EventMetadata = {},
  ): Promise<DeploymentResult> {
    const result = await this.deployments.handle(deploymentStream(deploymentId), command, {
      metadata: (state) => ({ accountId: state.accountId, ...metadata }),
      eventId: (_event, index) => eventIdFor(deploymentId, command, index),
    });
    const { accountId, name } = result.newState;
    const ended = endOf(result.newEvents);
    if (ended && accountId && name !== undefined) {
      const key = { accountId, name, deploymentId };
      try {
        await this.releaseName(key, ended.reason, ended.at, metadata);
      } catch (error) {
        // The next claim of the name takes a lost release back (see claimName).
        logger.write("warn", "could not release a deployment name", {
          deploymentId,
          error: (error as Error).message,
        });
      }
    }
    return result;
  }

  /**
   * Claims `name` for `deploymentId`; a 409 `deployment_exists` while another live deployment
   * holds it. A claim whose deployment ended (its release was lost) or was never requested
   * within NAME_CLAIM_ABANDONED_MS is released and the name claimed in the same append.
   */
  claimName(key: DeploymentNameKey, at: string, metadata: EventMetadata = {}): Promise<void> {
    return this.names.claim(key, at, metadata);
  }

  releaseName(
    key: DeploymentNameKey,
    reason: string,
    at: string,
    metadata: EventMetadata = {},
  ): Promise<void> {
    return this.names.release(key, reason, at, metadata);
  }

  private async isStale(deploymentId: string, claimedAt: string, at: string): Promise<boolean> {
    const { state } = await this.load(deploymentId);
    if (state.status === "terminated") return true;
    return state.status === "none" &&
      Date.parse(at) - Date.parse(claimedAt) > NAME_CLAIM_ABANDONED_MS;
  }
}

/** A termination (pod) or removal (external upstream) among `events`: its name is free again. */
function endOf(events: readonly DeploymentEvent[]): { reason: string; at: string } | undefined {
  for (const event of events) {
    if (event.type === "PodTerminated") {
      return { reason: "terminated", at: event.data.terminatedAt };
    }
    if (event.type === "ExternalUpstreamRemoved") {
      return { reason: "removed", at: event.data.removedAt };
    }
  }
  return undefined;
}

/** Ids derive from the idempotency key where the command has one (creation, metered minutes). */
function eventIdFor(deploymentId: string, command: DeploymentCommand, index: number): string {
  if (command.type === "RequestPodDeployment") {
    return deterministicEventId("deployment", `create:${deploymentId}:${index}`);
  }
  if (command.type === "MeterMinute") {
    return deterministicEventId("deployment", `metering:${deploymentId}:${command.minute}`);
  }
  return newEventId();
}
