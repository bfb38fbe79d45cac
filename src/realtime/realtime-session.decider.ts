import { DomainError } from "../common/domain-error.ts";
import type { Decider } from "../event-store/command-handler.ts";
import type {
  RealtimeEndReason,
  RealtimeEvent,
  RealtimeSessionStarted,
  RealtimeTotals,
} from "./realtime.events.ts";
import { addTotals, usageTotals, ZERO_TOTALS } from "./realtime-usage.ts";

/**
 * One realtime session: started once, one completed response per distinct upstream response id
 * (a replayed `response.done` decides nothing), ended once. The clock and every figure are
 * passed in; the totals of the end are folded from the responses, not trusted from the caller.
 */

export type RealtimeSessionCommand =
  | { type: "StartSession"; session: RealtimeSessionStarted }
  | {
    type: "CompleteResponse";
    responseId: string;
    status: string | null;
    usage: Record<string, unknown> | null;
    transcriptionUsage?: Record<string, unknown>[];
    chargeMicros: number;
    at: string;
  }
  | {
    type: "EndSession";
    reason: RealtimeEndReason;
    clientCloseCode: number | null;
    upstreamCloseCode: number | null;
    framesFromClient: number;
    framesFromUpstream: number;
    bytesFromClient: number;
    bytesFromUpstream: number;
    at: string;
  };

export interface RealtimeResponseRecord {
  responseId: string;
  chargeMicros: number;
  index: number;
}

export interface RealtimeSessionState {
  status: "none" | "open" | "ended";
  sessionId?: string;
  accountId?: string;
  model?: string;
  startedAt?: string;
  pricing: RealtimeSessionStarted["pricing"];
  /** Responses in the order they completed. */
  responses: Map<string, RealtimeResponseRecord>;
  totals: RealtimeTotals;
  chargedMicros: number;
}

export type RealtimeRejection = "realtime_session_unknown" | "realtime_session_exists";

export class RealtimeSessionRejected extends DomainError<RealtimeRejection> {}

export function initialState(): RealtimeSessionState {
  return {
    status: "none",
    pricing: null,
    responses: new Map(),
    totals: ZERO_TOTALS,
    chargedMicros: 0,
  };
}

export function decide(
  command: RealtimeSessionCommand,
  state: RealtimeSessionState,
): RealtimeEvent[] {
  if (command.type === "StartSession") {
    if (state.status !== "none") {
      // The same start retried is a no-op; another session's id reused is refused.
      if (state.startedAt === command.session.startedAt) return [];
      throw new RealtimeSessionRejected(
        "realtime_session_exists",
        `Realtime session ${command.session.sessionId} already exists.`,
      );
    }
    return [{ type: "RealtimeSessionStarted", data: command.session }];
  }
  if (state.status === "none") {
    throw new RealtimeSessionRejected("realtime_session_unknown", "No such realtime session.");
  }
  if (command.type === "CompleteResponse") {
    // Deduplicated by the upstream's response id; after the end nothing more is recorded.
    if (state.status === "ended" || state.responses.has(command.responseId)) return [];
    return [{
      type: "RealtimeResponseCompleted",
      data: {
        sessionId: state.sessionId!,
        accountId: state.accountId!,
        responseId: command.responseId,
        status: command.status,
        usage: command.usage,
        ...(command.transcriptionUsage?.length
          ? { transcriptionUsage: command.transcriptionUsage }
          : {}),
        chargeMicros: command.chargeMicros,
        index: state.responses.size,
        completedAt: command.at,
      },
    }];
  }
  if (state.status === "ended") return [];
  return [{
    type: "RealtimeSessionEnded",
    data: {
      sessionId: state.sessionId!,
      accountId: state.accountId!,
      reason: command.reason,
      endedAt: command.at,
      durationMs: Math.max(0, Date.parse(command.at) - Date.parse(state.startedAt!)),
      clientCloseCode: command.clientCloseCode,
      upstreamCloseCode: command.upstreamCloseCode,
      responses: state.responses.size,
      totals: state.totals,
      chargedMicros: state.chargedMicros,
      framesFromClient: command.framesFromClient,
      framesFromUpstream: command.framesFromUpstream,
      bytesFromClient: command.bytesFromClient,
      bytesFromUpstream: command.bytesFromUpstream,
    },
  }];
}

export function evolve(state: RealtimeSessionState, event: RealtimeEvent): RealtimeSessionState {
  switch (event.type) {
    case "RealtimeSessionStarted":
      return {
        ...state,
        status: "open",
        sessionId: event.data.sessionId,
        accountId: event.data.accountId,
        model: event.data.model,
        startedAt: event.data.startedAt,
        pricing: event.data.pricing,
      };
    case "RealtimeResponseCompleted": {
      const responses = new Map(state.responses);
      responses.set(event.data.responseId, {
        responseId: event.data.responseId,
        chargeMicros: event.data.chargeMicros,
        index: event.data.index,
      });
      return {
        ...state,
        responses,
        totals: addTotals(state.totals, usageTotals(event.data.usage)),
        chargedMicros: state.chargedMicros + event.data.chargeMicros,
      };
    }
    case "RealtimeSessionEnded":
      return { ...state, status: "ended" };
  }
}

export const realtimeSessionDecider: Decider<
  RealtimeSessionCommand,
  RealtimeEvent,
  RealtimeSessionState
> = { decide, evolve, initialState };
