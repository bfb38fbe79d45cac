import { Inject, Injectable } from "@nestjs/common";
import { deterministicEventId } from "../common/ids.ts";
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
import { type RealtimeEvent, realtimeStream } from "./realtime.events.ts";
import {
  type RealtimeSessionCommand,
  realtimeSessionDecider,
  type RealtimeSessionState,
} from "./realtime-session.decider.ts";

export type RealtimeSessionResult = CommandResult<RealtimeEvent, RealtimeSessionState>;

/**
 * Writes `realtime-<sessionId>` streams through the shared CommandHandler. A live session's
 * state is cached by its owner (it is the only writer while the sockets are open), so a
 * response costs one append and no read; a conflict (the crash sweep of another instance
 * deciding it dead) re-reads the stream. Event ids derive from the session id and the fact's
 * own key, so a retried append adds nothing.
 */
@Injectable()
export class RealtimeSessionHandler {
  private readonly handler: CommandHandler<
    RealtimeSessionCommand,
    RealtimeEvent,
    RealtimeSessionState
  >;
  private readonly live = new Map<string, StreamState<RealtimeSessionState>>();

  constructor(@Inject(EVENT_STORE) store: EventStore) {
    this.handler = new CommandHandler(store, realtimeSessionDecider);
  }

  load(sessionId: string): Promise<StreamState<RealtimeSessionState>> {
    return this.handler.load(realtimeStream(sessionId));
  }

  async handle(
    sessionId: string,
    command: RealtimeSessionCommand,
    metadata?: EventMetadata,
  ): Promise<RealtimeSessionResult> {
    const stream = realtimeStream(sessionId);
    const result = await this.handler.handle(stream, command, {
      metadata,
      eventId: (event) => deterministicEventId("realtime", `${sessionId}:${eventKey(event)}`),
      load: async (afterConflict) => {
        const known = this.live.get(sessionId);
        if (known && !afterConflict) return known;
        return await this.handler.load(stream);
      },
      onAppended: (appended) => {
        this.live.set(sessionId, {
          state: appended.newState,
          revision: appended.nextExpectedRevision,
        });
      },
    });
    if (command.type === "EndSession" || result.newState.status === "ended") {
      this.live.delete(sessionId);
    }
    return result;
  }

  /** Forgets a session's cached state (its sockets are gone and it was not ended here). */
  forget(sessionId: string): void {
    this.live.delete(sessionId);
  }
}

function eventKey(event: RealtimeEvent): string {
  switch (event.type) {
    case "RealtimeSessionStarted":
      return "started";
    case "RealtimeResponseCompleted":
      return `response:${event.data.responseId}`;
    case "RealtimeSessionEnded":
      return "ended";
  }
}
