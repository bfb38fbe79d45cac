import { Inject, Injectable } from "@nestjs/common";
import { newEventId } from "../common/ids.ts";
import {
  EVENT_STORE,
  type EventMetadata,
  type EventStore,
  type NewEvent,
  WrongExpectedVersion,
} from "../event-store/event-store.port.ts";
import { decide, evolve, initialJobState, type JobCommand, type JobState } from "./job.decider.ts";
import { type JobEvent, jobStream } from "./job.events.ts";

export interface JobAppendResult {
  /** The events this call appended (empty when the decider decided nothing). */
  events: JobEvent[];
  state: JobState;
  /** Global position of the last event written (0n when nothing was written). */
  position: bigint;
}

/**
 * The only place that reads, decides and appends job events. The append carries the expected
 * revision, so two instances finishing the same job cannot both succeed: the loser re-reads,
 * finds the job finished, and decides nothing.
 */
@Injectable()
export class JobCommandHandler {
  private readonly maxAttempts = 5;

  constructor(@Inject(EVENT_STORE) private readonly store: EventStore) {}

  async load(jobId: string): Promise<{ state: JobState; revision: bigint }> {
    let state = initialJobState;
    let revision = -1n;
    for (const event of await this.store.readStream(jobStream(jobId))) {
      state = evolve(state, event as unknown as JobEvent);
      revision = event.revision;
    }
    return { state, revision };
  }

  /** Decides `commands` in order against the stream and appends what they decide, at once. */
  async execute(
    jobId: string,
    commands: JobCommand[],
    metadata: EventMetadata,
  ): Promise<JobAppendResult> {
    for (let attempt = 1;; attempt++) {
      const { state: current, revision } = await this.load(jobId);
      let state = current;
      const events: JobEvent[] = [];
      for (const command of commands) {
        for (const event of decide(command, state)) {
          state = evolve(state, event);
          events.push(event);
        }
      }
      if (events.length === 0) return { events, state, position: 0n };
      // Random ids: two instances deciding the same transition must conflict, not dedupe.
      const newEvents: NewEvent[] = events.map((event) => ({
        id: newEventId(),
        type: event.type,
        data: event.data,
        metadata,
      }));
      try {
        const appended = await this.store.append(jobStream(jobId), newEvents, {
          expectedRevision: revision === -1n ? "no_stream" : revision,
        });
        return { events, state, position: appended.position };
      } catch (error) {
        if (error instanceof WrongExpectedVersion && attempt < this.maxAttempts) continue;
        throw error;
      }
    }
  }
}
