import { Inject, Injectable } from "@nestjs/common";
import { deterministicEventId } from "../common/ids.ts";
import { isDomainError } from "../common/domain-error.ts";
import { logger } from "../common/json-logger.ts";
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
  type ModelGroupNameCommand,
  modelGroupNameDecider,
  type ModelGroupNameEvent,
  type ModelGroupNameKey,
  type ModelGroupNameState,
  modelGroupNameTaken,
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
  private readonly names: CommandHandler<
    ModelGroupNameCommand,
    ModelGroupNameEvent,
    ModelGroupNameState
  >;

  constructor(@Inject(EVENT_STORE) store: EventStore) {
    this.groups = new CommandHandler(store, modelGroupDecider);
    this.names = new CommandHandler(store, modelGroupNameDecider);
  }

  /** Claims the name, then creates the group; a failed creation gives the name back. */
  async create(
    command: Extract<ModelGroupCommand, { type: "CreateModelGroup" }>,
    metadata: EventMetadata,
  ): Promise<ModelGroupResult> {
    const key = { accountId: command.accountId, name: command.name, groupId: command.groupId };
    await this.claimName(key, command.at, metadata);
    try {
      return await this.groups.handle(modelGroupStream(command.groupId), command, {
        metadata: { ...metadata, accountId: command.accountId },
        eventId: (_event, index) =>
          deterministicEventId("modelgroup", `create:${command.groupId}:${index}`),
      });
    } catch (error) {
      // A release lost here goes stale and is taken back by the next claim.
      await this.releaseName(key, "request_failed", command.at, metadata).catch((releaseError) =>
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
      await this.releaseName(key, "deleted", command.at, metadata).catch((error) =>
        logger.write("warn", "could not release a model group name", {
          groupId: command.groupId,
          error: (error as Error).message,
        })
      );
    }
    return result;
  }

  /**
   * Claims `name`; a 409 `model_group_exists` while a live group holds it. A claim whose group
   * was deleted (its release was lost) or never created within NAME_CLAIM_ABANDONED_MS is
   * released and the name claimed in the same append.
   */
  private async claimName(key: ModelGroupNameKey, at: string, metadata: EventMetadata) {
    const stream = modelGroupNameStream(key.accountId, key.name);
    const options = { metadata: { ...metadata, accountId: key.accountId } };
    const claim: ModelGroupNameCommand = { type: "ClaimModelGroupName", ...key, at };
    try {
      await this.names.handle(stream, claim, options);
      return;
    } catch (error) {
      if (!isDomainError(error, "model_group_exists")) throw error;
    }
    const holder = (await this.names.load(stream)).state.holder;
    if (holder) {
      const { state } = await this.groups.load(modelGroupStream(holder.groupId));
      const stale = state.status === "deleted" ||
        (state.status === "none" &&
          Date.parse(at) - Date.parse(holder.claimedAt) > NAME_CLAIM_ABANDONED_MS);
      if (!stale) throw modelGroupNameTaken(key.name);
    }
    const release: ModelGroupNameCommand[] = holder
      ? [{ type: "ReleaseModelGroupName", ...key, groupId: holder.groupId, reason: "stale", at }]
      : [];
    await this.names.handle(stream, [...release, claim], options);
  }

  private async releaseName(
    key: ModelGroupNameKey,
    reason: string,
    at: string,
    metadata: EventMetadata,
  ): Promise<void> {
    await this.names.handle(
      modelGroupNameStream(key.accountId, key.name),
      { type: "ReleaseModelGroupName", ...key, reason, at },
      { metadata: { ...metadata, accountId: key.accountId } },
    );
  }
}
