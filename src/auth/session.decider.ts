import type { Decider } from "../event-store/command-handler.ts";
import { AuthRuleViolation } from "./account.decider.ts";
import type { SessionEndReason, SessionEvent, SessionStartedData } from "./auth.events.ts";

/** `session-<id>`: one login, from SessionStarted until it ends (logout, revocation) or expires. */

export interface SessionState {
  started: boolean;
  accountId?: string;
  ended: boolean;
}

export type SessionCommand =
  | { type: "StartSession"; session: SessionStartedData }
  | {
    type: "EndSession";
    sessionId: string;
    /** Whose session the caller believes it is: another account's reads as not found. */
    accountId: string;
    reason: SessionEndReason;
    now: string;
  };

export const sessionDecider: Decider<SessionCommand, SessionEvent, SessionState> = {
  initialState: () => ({ started: false, ended: false }),
  decide(command, state) {
    switch (command.type) {
      case "StartSession":
        // Session ids are random, so this guards a bug rather than a race a user can cause.
        if (state.started) {
          throw new AuthRuleViolation("session_exists", "The session already exists.");
        }
        return [{ type: "SessionStarted", data: command.session }];
      case "EndSession":
        if (!state.started || state.accountId !== command.accountId) {
          throw new AuthRuleViolation(
            "session_not_found",
            `No session with id '${command.sessionId}'.`,
            "id",
          );
        }
        if (state.ended) return [];
        return [{
          type: "SessionEnded",
          data: {
            sessionId: command.sessionId,
            accountId: command.accountId,
            reason: command.reason,
            at: command.now,
          },
        }];
    }
  },
  evolve(state, event) {
    switch (event.type) {
      case "SessionStarted":
        return { ...state, started: true, accountId: event.data.accountId };
      case "SessionEnded":
        return { ...state, ended: true };
    }
  },
};
