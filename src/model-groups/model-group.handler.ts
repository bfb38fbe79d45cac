import { Inject, Injectable } from "@nestjs/common";
import { deterministicEventId } from "../common/ids.ts";
import { logger } from "../common/json-logger.ts";
import { NameClaims } from "../event-store/name-claims.ts";
import { CommandHandler, type CommandResult } from "../event-store/command-handler.ts";
import {
  EVENT_STORE,
  type EventMetadata,
  type EventStore,
} from "../event-store/event-store.port.ts";
import {
  type ModelGroupCommand,
  modelGroupDecider,
  type ModelGroupEvent,
  modelGroupNameKind,
  type ModelGroupState,
} from "./model-group.decider.ts";
import { modelGroupNameStream, modelGroupStream } from "./model-group.events.ts";

export type ModelGroupResult = CommandResult<ModelGroupEvent, ModelGroupState>;

/** A name claimed this long ago by a group that was never created belongs to a dead request. */
const NAME_CLAIM_ABANDONED_MS = 10 * 60_000;

/**
 * Writes `modelgroup-<id>` and `modelgroupname-<hash>` through the shared CommandHandler: a
 * group is created only after its name is claimed, and a deletion gives the name back.
 */
@Injectable()
export class ModelGroupCommandHandler {
  private readonly groups: CommandHandler<ModelGroupCommand, ModelGroupEvent, ModelGroupState>;
  private readonly names: NameClaims<"groupId", "ModelGroupNameClaimed", "ModelGroupNameReleased">;

  constructor(@Inject(EVENT_STORE) store: EventStore) {
    this.groups = new CommandHandler(store, modelGroupDecider);
    this.names = new NameClaims(store, {
      ...modelGroupNameKind,
      stream: modelGroupNameStream,
      isStale: async (holder, at) => {
        const { state } = await this.groups.load(modelGroupStream(holder.holderId));
        return state.status === "deleted" ||
          (state.status === "none" &&
            Date.parse(at) - Date.parse(holder.claimedAt) > NAME_CLAIM_ABANDONED_MS);
      },
    });
  }

  /** Claims the name, then creates the group; a failed creation gives the name back. */
  async create(
    command: Extract<ModelGroupCommand, { type: "CreateModelGroup" }>,
    metadata: EventMetadata,
  ): Promise<ModelGroupResult> {
    const key = { accountId: command.accountId, name: command.name, groupId: command.groupId };
    await this.names.claim(key, command.at, metadata);
    try {
      return await this.groups.handle(modelGroupStream(command.groupId), command, {
        metadata: { ...metadata, accountId: command.accountId },
        eventId: (_event, index) =>
          deterministicEventId("modelgroup", `create:${command.groupId}:${index}`),
      });
    } catch (error) {
      // A release lost here goes stale and is taken back by the next claim.
      await this.names.release(key, "request_failed", command.at, metadata).catch((releaseError) =>
        logger.write("warn", "could not release a model group name", {
          groupId: command.groupId,
          error: (releaseError as Error).message,
        })
      );
      throw error;
    }
  }

  async delete(
    command: Extract<ModelGroupCommand, { type: "DeleteModelGroup" }>,
    metadata: EventMetadata,
  ): Promise<ModelGroupResult> {
    const result = await this.groups.handle(modelGroupStream(command.groupId), command, {
      metadata: { ...metadata, accountId: command.accountId },
    });
    const name = result.newState.name;
    if (name !== undefined) {
      const key = { accountId: command.accountId, name, groupId: command.groupId };
      await this.names.release(key, "deleted", command.at, metadata).catch((error) =>
        logger.write("warn", "could not release a model group name", {
          groupId: command.groupId,
          error: (error as Error).message,
        })
      );
    }
    return result;
  }
}
