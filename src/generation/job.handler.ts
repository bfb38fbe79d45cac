import { Inject, Injectable } from "@nestjs/common";
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
import { type JobCommand, jobDecider, type JobState } from "./job.decider.ts";
import { type JobEvent, jobStream } from "./job.events.ts";

export type JobCommandResult = CommandResult<JobEvent, JobState>;

/**
 * The only place that reads, decides and appends job events, through the shared command
 * handler. Event ids stay random (the handler's default) on purpose: two instances deciding the
 * same transition must conflict on the expected revision, not dedupe, so the loser re-reads,
 * finds the job finished, and decides nothing.
 */
@Injectable()
export class JobCommandHandler {
  private readonly handler: CommandHandler<JobCommand, JobEvent, JobState>;

  constructor(@Inject(EVENT_STORE) store: EventStore) {
    this.handler = new CommandHandler(store, jobDecider);
  }

  load(jobId: string): Promise<StreamState<JobState>> {
    return this.handler.load(jobStream(jobId));
  }

  /** Decides `commands` in order against the stream and appends what they decide, at once. */
  execute(
    jobId: string,
    commands: JobCommand[],
    metadata: EventMetadata,
  ): Promise<JobCommandResult> {
    return this.handler.handle(jobStream(jobId), commands, { metadata });
  }
}
