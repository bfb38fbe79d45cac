import type { DeploymentEvent, DeploymentState } from "./deployment.decider.ts";
import { DeploymentRejected } from "./deployment.decider.ts";
import type { DeploymentSleepSettings, PodPrepaidHold } from "./deployment.events.ts";

/**
 * The sleep-and-wake half of the deployment decider (idle stop, wake, spend cap, replacement of
 * a pod that cannot come back): pure, called from deployment.decider.ts, kept apart so the
 * lifecycle and billing rules there stay readable.
 */

export interface SleepState {
  sleep: DeploymentSleepSettings;
  /** Latest DeploymentUsed (ISO), or the last time the pod started serving. */
  lastUsedAt: string | null;
  /** This calendar month's (UTC, `YYYY-MM`) metered spend. */
  monthSpend: { month: string; micros: number };
  /** The latest wake and its outcome. */
  wake?: { requestedAt: string; outcome: "pending" | "woken" | "failed" };
}

export type SleepCommand =
  | {
    type: "ChangeSleepSettings";
    idleTimeoutS?: number | null;
    wakeOnRequest?: boolean;
    maxSpendMicros?: number | null;
    at: string;
  }
  | { type: "RecordUse"; at: string }
  | {
    type: "RequestWake";
    at: string;
    /** A pending wake older than this is abandoned (its instance died): a new one may start. */
    staleAfterMs: number;
  }
  | { type: "MarkWoken"; waitedMs: number; at: string }
  | { type: "FailWake"; reason: string; at: string }
  | {
    type: "ReplacePod";
    newPodId: string;
    gpuTypeId: string;
    costPerHourUsd: number;
    reason: string;
    at: string;
    prepaidHold?: PodPrepaidHold;
    quotedCostPerHourUsd?: number;
  };

export const calendarMonth = (iso: string) => iso.slice(0, 7);

/** This month's spend as of `at` (a new month starts at zero). */
export function monthSpendMicros(state: SleepState, at: string): number {
  return state.monthSpend.month === calendarMonth(at) ? state.monthSpend.micros : 0;
}

/** The cap is reached: spending `nextMicros` more this month would pass max_spend_usd. */
export function spendCapReached(state: SleepState, at: string, nextMicros = 0): boolean {
  const cap = state.sleep.maxSpendMicros;
  if (cap === undefined) return false;
  const spent = monthSpendMicros(state, at);
  return spent >= cap || spent + nextMicros > cap;
}

/** wake_on_request, with its default: on when idle_timeout_s is set. */
export function wakesOnRequest(settings: DeploymentSleepSettings): boolean {
  return settings.wakeOnRequest ?? settings.idleTimeoutS !== undefined;
}

export function decideSleep(command: SleepCommand, state: DeploymentState): DeploymentEvent[] {
  const deploymentId = state.deploymentId!;
  const pod = () => {
    if (state.provider !== "runpod") {
      throw new DeploymentRejected(
        "invalid_deployment_state",
        "Only pod deployments sleep and wake.",
      );
    }
  };
  switch (command.type) {
    case "ChangeSleepSettings": {
      pod();
      const { type: _type, at, ...changes } = command;
      return [{
        type: "DeploymentSettingsChanged",
        data: { deploymentId, ...changes, changedAt: at },
      }];
    }
    case "RecordUse":
      if (state.lastUsedAt !== null && state.lastUsedAt >= command.at) return [];
      if (state.status === "terminated" || state.status === "failed") return [];
      return [{ type: "DeploymentUsed", data: { deploymentId, lastUsedAt: command.at } }];
    case "RequestWake": {
      pod();
      const wake = state.wake;
      const pending = wake?.outcome === "pending" &&
        Date.parse(command.at) - Date.parse(wake.requestedAt) < command.staleAfterMs;
      // Another request (on any instance) is waking it: this one waits on the same readiness.
      if (pending || state.status !== "stopped") return [];
      return [{ type: "DeploymentWakeRequested", data: { deploymentId, requestedAt: command.at } }];
    }
    case "MarkWoken":
      if (state.wake?.outcome !== "pending") return [];
      return [{
        type: "DeploymentWoken",
        data: { deploymentId, waitedMs: command.waitedMs, wokenAt: command.at },
      }];
    case "FailWake":
      if (state.wake?.outcome !== "pending") return [];
      return [{
        type: "DeploymentWakeFailed",
        data: { deploymentId, reason: command.reason, failedAt: command.at },
      }];
    case "ReplacePod": {
      pod();
      if (state.status !== "stopped") {
        throw new DeploymentRejected(
          "invalid_deployment_state",
          `Cannot replace the pod: the deployment is ${state.status}.`,
        );
      }
      // The old pod's hold is settled first, or its prepaid minutes would be forgotten.
      if (state.hold && !state.hold.settled) {
        throw new DeploymentRejected(
          "invalid_deployment_state",
          "Cannot replace the pod before its prepaid hold is settled.",
        );
      }
      return [{
        type: "PodReplaced",
        data: {
          deploymentId,
          oldPodId: state.podId ?? deploymentId,
          newPodId: command.newPodId,
          gpuTypeId: command.gpuTypeId,
          costPerHourUsd: command.costPerHourUsd,
          reason: command.reason,
          createdAt: command.at,
          ...(command.prepaidHold ? { prepaidHold: command.prepaidHold } : {}),
          ...(command.quotedCostPerHourUsd !== undefined
            ? { quotedCostPerHourUsd: command.quotedCostPerHourUsd }
            : {}),
        },
      }];
    }
  }
}

/** Folds the sleep-and-wake events (and the spend of metered minutes) into the state. */
export function evolveSleep(state: DeploymentState, event: DeploymentEvent): DeploymentState {
  switch (event.type) {
    case "DeploymentRequested":
      return event.data.sleep ? { ...state, sleep: { ...event.data.sleep } } : state;
    case "DeploymentSettingsChanged": {
      const sleep = { ...state.sleep };
      const d = event.data;
      if (d.idleTimeoutS !== undefined) {
        if (d.idleTimeoutS === null) delete sleep.idleTimeoutS;
        else sleep.idleTimeoutS = d.idleTimeoutS;
      }
      if (d.wakeOnRequest !== undefined) sleep.wakeOnRequest = d.wakeOnRequest;
      if (d.maxSpendMicros !== undefined) {
        if (d.maxSpendMicros === null) delete sleep.maxSpendMicros;
        else sleep.maxSpendMicros = d.maxSpendMicros;
      }
      return { ...state, sleep };
    }
    case "DeploymentUsed":
      return state.lastUsedAt !== null && state.lastUsedAt >= event.data.lastUsedAt
        ? state
        : { ...state, lastUsedAt: event.data.lastUsedAt };
    case "PodStarted":
      // A pod that just started counts as used then: it is not stopped as idle at once.
      return state.lastUsedAt !== null && state.lastUsedAt >= event.data.startedAt
        ? state
        : { ...state, lastUsedAt: event.data.startedAt };
    case "DeploymentWakeRequested":
      return { ...state, wake: { requestedAt: event.data.requestedAt, outcome: "pending" } };
    case "DeploymentWoken":
      return state.wake ? { ...state, wake: { ...state.wake, outcome: "woken" } } : state;
    case "DeploymentWakeFailed":
      return state.wake ? { ...state, wake: { ...state.wake, outcome: "failed" } } : state;
    case "DeploymentUsageMetered": {
      const month = calendarMonth(event.data.minute);
      const micros = state.monthSpend.month === month ? state.monthSpend.micros : 0;
      return { ...state, monthSpend: { month, micros: micros + event.data.amountMicros } };
    }
    case "PodReplaced": {
      const hold = event.data.prepaidHold;
      return {
        ...state,
        status: "provisioning",
        podId: event.data.newPodId,
        gpuTypeId: event.data.gpuTypeId,
        costPerHourUsd: event.data.costPerHourUsd,
        billedFrom: "created",
        runningSince: event.data.createdAt,
        podGone: false,
        baseUrl: undefined,
        healthy: undefined,
        hold: hold
          ? { ...hold, usedMinutes: 0, usedMicros: 0, closedMicros: null, settled: false }
          : undefined,
      };
    }
    default:
      return state;
  }
}
