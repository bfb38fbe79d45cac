import { Inject, Injectable } from "@nestjs/common";
import { deterministicEventId, newEventId } from "../common/ids.ts";
import {
  EVENT_STORE,
  type EventMetadata,
  type EventStore,
  type NewEvent,
  WrongExpectedVersion,
} from "../event-store/event-store.port.ts";
import {
  decide,
  type DeploymentCommand,
  type DeploymentEvent,
  type DeploymentState,
  fold,
} from "./deployment.decider.ts";
import { deploymentStream } from "./deployment.events.ts";

export interface HandledCommand {
  /** Events this call appended (empty when the decider had nothing to add). */
  events: DeploymentEvent[];
  /** State after the command. */
  state: DeploymentState;
  /** Global position of the last appended event; undefined when nothing was appended. */
  position?: bigint;
}

const MAX_ATTEMPTS = 10;

/**
 * The only place that appends to `deployment-<id>` streams: read → decide → append with the
 * expected revision, deciding again when another instance appended first (bounded). Two
 * reconcilers or metering loops racing on one deployment therefore append each fact once.
 */
@Injectable()
export class DeploymentCommandHandler {
  constructor(@Inject(EVENT_STORE) private readonly store: EventStore) {}

  async load(deploymentId: string): Promise<{ state: DeploymentState; revision: bigint }> {
    const recorded = await this.store.readStream(deploymentStream(deploymentId));
    const events = recorded.map((e) => ({ type: e.type, data: e.data }) as DeploymentEvent);
    const revision = recorded.length ? recorded[recorded.length - 1].revision : -1n;
    return { state: fold(events), revision };
  }

  async handle(
    deploymentId: string,
    command: DeploymentCommand,
    metadata: EventMetadata = {},
  ): Promise<HandledCommand> {
    const stream = deploymentStream(deploymentId);
    for (let attempt = 1;; attempt++) {
      const { state, revision } = await this.load(deploymentId);
      const events = decide(command, state);
      if (events.length === 0) return { events, state };
      const toAppend: NewEvent[] = events.map((event, index) => ({
        id: eventIdFor(deploymentId, command, index),
        type: event.type,
        data: event.data,
        metadata: { accountId: state.accountId ?? commandAccount(command), ...metadata },
      }));
      try {
        const result = await this.store.append(stream, toAppend, {
          expectedRevision: revision === -1n ? "no_stream" : revision,
        });
        return { events, state: fold(events, state), position: result.position };
      } catch (error) {
        if (!(error instanceof WrongExpectedVersion) || attempt >= MAX_ATTEMPTS) throw error;
      }
    }
  }
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

function commandAccount(command: DeploymentCommand): string | undefined {
  return command.type === "RequestPodDeployment" ? command.accountId : undefined;
}
