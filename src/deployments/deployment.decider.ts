import { DomainError } from "../common/domain-error.ts";
import { type Micros, MICROS_PER_USD } from "../common/money.ts";
import type { Decider } from "../event-store/command-handler.ts";
import type {
  DeploymentEventMap,
  DeploymentProvider,
  DeploymentSleepSettings,
  DeploymentStatus,
  PodStopReason,
} from "./deployment.events.ts";
import {
  decideSleep,
  evolveSleep,
  type SleepCommand,
  type SleepState,
} from "./deployment-sleep.ts";

/**
 * The decider of one `deployment-<id>` stream (RunPod pods and external upstreams): pure
 * `decide`/`evolve`, no I/O, no clock. Times, ids and prices arrive in the commands. It runs past
 * 350 lines on purpose: the lifecycle and the billing rules fold the same state, and reading them
 * side by side is what keeps a pod from running unbilled.
 *
 * Pod lifecycle as events: DeploymentRequested + PodCreated (pod rented, billed from here) →
 * DeploymentHealthChanged (Ollama answers through the proxy; read model shows `pulling`) →
 * ModelPulled → PodStarted (routable) → PodStopped / PodTerminated / DeploymentFailed;
 * PodResumed (a restart, billed from here) → … PodStarted again.
 *
 * Billing starts when RunPod starts charging the operator: at PodCreated and PodResumed. Streams
 * written before that rule have a PodCreated without `billedFrom`; they keep being billed from
 * PodStarted, so an old history folds and meters exactly as it did.
 *
 * The prepaid hold (PodCreated.prepaidHold): the first minutes, up to the hold's minutes and
 * amount, are metered as `prepaid` and charge nothing of their own. When the hold cannot take the
 * next minute, or the pod stops billing (stop, terminate, failure, restart), PodHoldClosed fixes
 * the sum of those minutes; the ledger then settles the hold at exactly that sum (the rest of the
 * hold goes back to the account in the same ledger event) and PodHoldSettled records it. Later
 * minutes are charged one by one against the available balance.
 */

export type DeploymentEvent = {
  [K in keyof DeploymentEventMap]: { type: K; data: DeploymentEventMap[K] };
}[keyof DeploymentEventMap];

export interface BillingInterval {
  /** ISO instant the pod started serving (PodStarted). */
  from: string;
  /** ISO instant it stopped; the minutes started before it are billed. */
  to: string;
}

export interface HoldState {
  reservationId: string;
  amountMicros: number;
  minutes: number;
  /** Prepaid minutes metered so far and their sum. */
  usedMinutes: number;
  usedMicros: number;
  /** Set by PodHoldClosed: the amount the ledger settles. */
  closedMicros: number | null;
  settled: boolean;
}

export interface DeploymentState extends SleepState {
  status: DeploymentStatus | "none";
  deploymentId?: string;
  accountId?: string;
  provider?: DeploymentProvider;
  name?: string;
  modelIdentifier?: string;
  podId?: string;
  gpuTypeId?: string;
  costPerHourUsd: number;
  baseUrl?: string;
  healthy?: boolean;
  services?: Record<string, string>;
  /** Start of the current billed interval (PodCreated/PodResumed, or PodStarted on old streams), null when not billed. */
  runningSince: string | null;
  /** `created`: billed from PodCreated/PodResumed; `started`: an old stream, billed from PodStarted. */
  billedFrom: "created" | "started";
  hold?: HoldState;
  /** The pod no longer exists on RunPod (terminated, or gone when the failure was recorded). */
  podGone: boolean;
  slotClaimId?: string;
  /** Closed intervals that may still hold unmetered minutes. */
  closedIntervals: BillingInterval[];
  /** The last metered minute (ISO, `…:00.000Z`). */
  lastMeteredMinute: string | null;
  stopReason?: PodStopReason;
  failureReason?: string;
}

export function initialDeploymentState(): DeploymentState {
  return {
    status: "none",
    costPerHourUsd: 0,
    runningSince: null,
    billedFrom: "started",
    podGone: false,
    closedIntervals: [],
    lastMeteredMinute: null,
    sleep: {},
    lastUsedAt: null,
    monthSpend: { month: "", micros: 0 },
  };
}

export type DeploymentCommand =
  | SleepCommand
  | {
    type: "RequestPodDeployment";
    deploymentId: string;
    accountId: string;
    name: string;
    modelIdentifier: string;
    gpuTypeId: string;
    costPerHourUsd: number;
    at: string;
    prepaidHold?: { reservationId: string; amountMicros: number; minutes: number };
    quotedCostPerHourUsd?: number;
    slotClaimId?: string;
    /** Declared to speak the realtime protocol (probed at the first realtime session). */
    realtime?: boolean;
    /** idle_timeout_s, wake_on_request, max_spend_usd (absent: never sleeps). */
    sleep?: DeploymentSleepSettings;
  }
  | {
    type: "RegisterExternalUpstream";
    deploymentId: string;
    accountId: string;
    name: string;
    modelIdentifier: string;
    /** OpenAI-compatible base URL (…/v1), already checked against the SSRF rules. */
    baseUrl: string;
    /** The upstream API key, encrypted by the caller; never the plaintext. */
    apiKeyCiphertext?: string;
    /** Declared to speak the realtime protocol, and probed before registering. */
    realtime?: boolean;
    at: string;
  }
  | {
    type: "RecordHealth";
    healthy: boolean;
    services: Record<string, string>;
    responseTimeMs: number | null;
    at: string;
  }
  | { type: "MarkModelPulled"; modelIdentifier: string; at: string }
  | { type: "MarkPodStarted"; baseUrl: string; at: string }
  | { type: "StopPod"; reason: PodStopReason; detail?: string; at: string }
  | { type: "TerminatePod"; at: string }
  | {
    type: "FailDeployment";
    reason: string;
    podStopped: boolean;
    at: string;
    /** The pod was terminated (or is gone): the slot and the storage are free. */
    podTerminated?: boolean;
  }
  | { type: "ResumePod"; costPerHourUsd: number; at: string }
  | { type: "CloseHold"; at: string }
  | { type: "MarkHoldSettled"; at: string }
  | { type: "MeterMinute"; minute: string; amountMicros: number; prepaid?: boolean }
  | { type: "RemoveExternalUpstream"; at: string }
  | { type: "ReplaceExternalUpstreamKey"; apiKeyCiphertext: string; at: string };

export type DeploymentRejection =
  | "deployment_exists"
  | "deployment_not_found"
  | "invalid_deployment_state";

/** A command the current state does not allow (the exception filter maps the codes to 409/404). */
export class DeploymentRejected extends DomainError<DeploymentRejection> {}

/** Statuses of a deployment that has (or is getting) a pod: stoppable, and billed. */
export const ACTIVE: ReadonlyArray<DeploymentState["status"]> = [
  "pending",
  "provisioning",
  "pulling",
  "running",
];

export function isActive(deployment: { status: DeploymentState["status"] }): boolean {
  return ACTIVE.includes(deployment.status);
}

/** The refusal of an id the caller has no deployment under (or none of the route's kind). */
export const deploymentNotFound = (id: string) =>
  new DeploymentRejected("deployment_not_found", `No deployment found with id '${id}'.`);

const alreadyExists = (deploymentId: string) =>
  new DeploymentRejected("deployment_exists", `Deployment ${deploymentId} already exists.`);

export function decide(command: DeploymentCommand, state: DeploymentState): DeploymentEvent[] {
  if (command.type === "RegisterExternalUpstream") {
    if (state.status !== "none") throw alreadyExists(command.deploymentId);
    return [{
      type: "DeploymentRequested",
      data: {
        deploymentId: command.deploymentId,
        accountId: command.accountId,
        provider: "external",
        name: command.name,
        modelIdentifier: command.modelIdentifier,
        baseUrl: command.baseUrl,
        ...(command.apiKeyCiphertext !== undefined
          ? { apiKeyCiphertext: command.apiKeyCiphertext }
          : {}),
        ...(command.realtime ? { realtime: true } : {}),
        requestedAt: command.at,
      },
    }];
  }
  if (command.type === "RequestPodDeployment") {
    if (state.status !== "none") throw alreadyExists(command.deploymentId);
    requirePrice(command.costPerHourUsd);
    return [
      {
        type: "DeploymentRequested",
        data: {
          deploymentId: command.deploymentId,
          accountId: command.accountId,
          provider: "runpod",
          name: command.name,
          modelIdentifier: command.modelIdentifier,
          gpuTypeId: command.gpuTypeId,
          ...(command.realtime ? { realtime: true } : {}),
          ...(command.sleep && Object.keys(command.sleep).length ? { sleep: command.sleep } : {}),
          requestedAt: command.at,
        },
      },
      {
        type: "PodCreated",
        data: {
          deploymentId: command.deploymentId,
          podId: command.deploymentId,
          gpuTypeId: command.gpuTypeId,
          costPerHourUsd: command.costPerHourUsd,
          createdAt: command.at,
          billedFrom: "created",
          ...(command.prepaidHold ? { prepaidHold: command.prepaidHold } : {}),
          ...(command.quotedCostPerHourUsd !== undefined
            ? { quotedCostPerHourUsd: command.quotedCostPerHourUsd }
            : {}),
          ...(command.slotClaimId !== undefined ? { slotClaimId: command.slotClaimId } : {}),
        },
      },
    ];
  }
  if (state.status === "none") {
    throw new DeploymentRejected("deployment_not_found", "No such deployment.");
  }
  const deploymentId = state.deploymentId!;
  switch (command.type) {
    case "RemoveExternalUpstream":
      requireExternal(state, "delete");
      // Deleting twice is deleting once.
      if (state.status === "terminated") return [];
      return [{ type: "ExternalUpstreamRemoved", data: { deploymentId, removedAt: command.at } }];
    case "ReplaceExternalUpstreamKey":
      requireExternal(state, "replace the key of");
      requireNotEnded(state, "replace the key");
      return [{
        type: "ExternalUpstreamKeyReplaced",
        data: { deploymentId, apiKeyCiphertext: command.apiKeyCiphertext, replacedAt: command.at },
      }];
    case "RecordHealth": {
      const same = state.healthy === command.healthy &&
        JSON.stringify(state.services ?? {}) === JSON.stringify(command.services);
      if (same || state.status === "terminated") return [];
      return [{
        type: "DeploymentHealthChanged",
        data: {
          deploymentId,
          healthy: command.healthy,
          services: command.services,
          responseTimeMs: command.responseTimeMs,
          checkedAt: command.at,
        },
      }];
    }
    case "MarkModelPulled":
      requireNotEnded(state, "record a model pull");
      return [{
        type: "ModelPulled",
        data: { deploymentId, modelIdentifier: command.modelIdentifier, pulledAt: command.at },
      }];
    case "MarkPodStarted":
      requireNotEnded(state, "start");
      if (state.status === "running") return [];
      return [{
        type: "PodStarted",
        data: { deploymentId, baseUrl: command.baseUrl, startedAt: command.at },
      }];
    case "StopPod":
      if (!isActive(state)) return [];
      return [{
        type: "PodStopped",
        data: {
          deploymentId,
          reason: command.reason,
          ...(command.detail !== undefined ? { detail: command.detail } : {}),
          stoppedAt: command.at,
        },
      }];
    case "TerminatePod":
      if (state.status === "terminated") return [];
      return [{ type: "PodTerminated", data: { deploymentId, terminatedAt: command.at } }];
    case "ResumePod": {
      if (state.status !== "stopped") {
        throw new DeploymentRejected(
          "invalid_deployment_state",
          `Cannot start: the deployment is ${state.status}.`,
        );
      }
      requirePrice(command.costPerHourUsd);
      // Minutes before the restart stay on the hold; the restart's are charged one by one.
      return [...closeHoldEvents(state, command.at), {
        type: "PodResumed",
        data: { deploymentId, costPerHourUsd: command.costPerHourUsd, resumedAt: command.at },
      }];
    }
    case "CloseHold":
      return closeHoldEvents(state, command.at);
    case "MarkHoldSettled": {
      const hold = state.hold;
      if (!hold || hold.closedMicros === null || hold.settled) return [];
      return [{
        type: "PodHoldSettled",
        data: {
          deploymentId,
          reservationId: hold.reservationId,
          amountMicros: hold.closedMicros,
          settledAt: command.at,
        },
      }];
    }
    case "FailDeployment": {
      if (state.status === "terminated" || state.status === "failed") return [];
      const failed: DeploymentEvent = {
        type: "DeploymentFailed",
        data: {
          deploymentId,
          reason: command.reason,
          failedAt: command.at,
          ...(command.podTerminated ? { podTerminated: true } : {}),
        },
      };
      if (!command.podStopped || !isActive(state)) return [failed];
      return [{
        type: "PodStopped",
        data: { deploymentId, reason: "failed", detail: command.reason, stoppedAt: command.at },
      }, failed];
    }
    case "MeterMinute":
      if (state.lastMeteredMinute !== null && command.minute <= state.lastMeteredMinute) return [];
      if (command.prepaid && !holdCovers(state, command.amountMicros)) {
        // The caller charged nothing for it: recording it as prepaid past the hold would make it free.
        throw new DeploymentRejected(
          "invalid_deployment_state",
          "The prepaid hold cannot cover this minute.",
        );
      }
      return [{
        type: "DeploymentUsageMetered",
        data: {
          deploymentId,
          accountId: state.accountId!,
          minute: command.minute,
          amountMicros: command.amountMicros,
          ...(command.prepaid ? { prepaid: true } : {}),
        },
      }];
    default:
      // Idle stop, wake, settings, pod replacement: deployment-sleep.ts.
      return decideSleep(command, state);
  }
}

/** Whether the next minute, at `amountMicros`, goes against the prepaid hold. */
export function holdCovers(state: DeploymentState, amountMicros: number): boolean {
  const hold = state.hold;
  return hold !== undefined && hold.closedMicros === null && hold.usedMinutes < hold.minutes &&
    hold.usedMicros + amountMicros <= hold.amountMicros;
}

/** The hold is open: close it at the prepaid minutes' sum (nothing when there is no open hold). */
function closeHoldEvents(state: DeploymentState, at: string): DeploymentEvent[] {
  const hold = state.hold;
  if (!hold || hold.closedMicros !== null) return [];
  return [{
    type: "PodHoldClosed",
    data: {
      deploymentId: state.deploymentId!,
      reservationId: hold.reservationId,
      amountMicros: hold.usedMicros,
      minutes: hold.usedMinutes,
      closedAt: at,
    },
  }];
}

/** A pod is never free by accident: a missing, zero or non-finite price is refused. */
export function requirePrice(costPerHourUsd: unknown): void {
  if (
    typeof costPerHourUsd !== "number" || !Number.isFinite(costPerHourUsd) || costPerHourUsd <= 0
  ) {
    throw new DeploymentRejected(
      "invalid_deployment_state",
      `RunPod reported no usable price for the pod (${JSON.stringify(costPerHourUsd ?? null)}).`,
    );
  }
}

/** Removal and key replacement are for external upstreams; a pod is terminated through RunPod. */
function requireExternal(state: DeploymentState, what: string): void {
  if (state.provider !== "external") {
    throw new DeploymentRejected(
      "invalid_deployment_state",
      `Cannot ${what} a ${
        state.provider ?? "unknown"
      } deployment this way: only external upstreams.`,
    );
  }
}

function requireNotEnded(state: DeploymentState, what: string): void {
  if (state.status === "terminated" || state.status === "failed") {
    throw new DeploymentRejected(
      "invalid_deployment_state",
      `Cannot ${what}: the deployment is ${state.status}.`,
    );
  }
}

export function evolve(state: DeploymentState, event: DeploymentEvent): DeploymentState {
  return evolveSleep(evolveLifecycle(state, event), event);
}

function evolveLifecycle(state: DeploymentState, event: DeploymentEvent): DeploymentState {
  switch (event.type) {
    case "DeploymentRequested":
      return {
        ...state,
        status: event.data.provider === "external" ? "running" : "pending",
        deploymentId: event.data.deploymentId,
        accountId: event.data.accountId,
        provider: event.data.provider,
        name: event.data.name,
        modelIdentifier: event.data.modelIdentifier,
        gpuTypeId: event.data.gpuTypeId,
      };
    case "PodCreated": {
      const billedFromCreation = event.data.billedFrom === "created";
      const hold = event.data.prepaidHold;
      return {
        ...state,
        status: "provisioning",
        podId: event.data.podId,
        gpuTypeId: event.data.gpuTypeId,
        costPerHourUsd: event.data.costPerHourUsd,
        billedFrom: billedFromCreation ? "created" : "started",
        runningSince: billedFromCreation ? event.data.createdAt : state.runningSince,
        ...(hold
          ? {
            hold: {
              ...hold,
              usedMinutes: 0,
              usedMicros: 0,
              closedMicros: null,
              settled: false,
            },
          }
          : {}),
        ...(event.data.slotClaimId !== undefined ? { slotClaimId: event.data.slotClaimId } : {}),
      };
    }
    case "PodResumed":
      return {
        ...state,
        status: "provisioning",
        costPerHourUsd: event.data.costPerHourUsd,
        runningSince: state.runningSince ?? event.data.resumedAt,
      };
    case "PodHoldClosed":
      return state.hold
        ? { ...state, hold: { ...state.hold, closedMicros: event.data.amountMicros } }
        : state;
    case "PodHoldSettled":
      return state.hold ? { ...state, hold: { ...state.hold, settled: true } } : state;
    case "DeploymentHealthChanged": {
      const pulling = event.data.healthy &&
        (state.status === "provisioning" || state.status === "stopped");
      return {
        ...state,
        healthy: event.data.healthy,
        services: event.data.services,
        status: pulling ? "pulling" : state.status,
      };
    }
    case "ModelPulled":
      return { ...state, modelIdentifier: event.data.modelIdentifier };
    case "PodStarted":
      return {
        ...state,
        status: "running",
        baseUrl: event.data.baseUrl,
        runningSince: state.runningSince ?? event.data.startedAt,
      };
    case "PodStopped":
      return {
        ...closeInterval(state, event.data.stoppedAt),
        status: "stopped",
        stopReason: event.data.reason,
      };
    case "PodTerminated":
      return {
        ...closeInterval(state, event.data.terminatedAt),
        status: "terminated",
        podGone: true,
      };
    case "DeploymentFailed":
      return {
        ...closeInterval(state, event.data.failedAt),
        status: "failed",
        failureReason: event.data.reason,
        podGone: state.podGone || event.data.podTerminated === true,
      };
    case "ExternalUpstreamRemoved":
      return { ...state, status: "terminated" };
    case "ExternalUpstreamKeyReplaced":
      // The key lives in the read model (routing decrypts it there); the decider needs no copy.
      return state;
    case "DeploymentUsageMetered": {
      const last = state.lastMeteredMinute === null || event.data.minute > state.lastMeteredMinute
        ? event.data.minute
        : state.lastMeteredMinute;
      const lastEnd = Date.parse(last) + MINUTE_MS;
      const hold = state.hold && event.data.prepaid
        ? {
          ...state.hold,
          usedMinutes: state.hold.usedMinutes + 1,
          usedMicros: state.hold.usedMicros + event.data.amountMicros,
        }
        : state.hold;
      return {
        ...state,
        lastMeteredMinute: last,
        closedIntervals: state.closedIntervals.filter((i) => Date.parse(i.to) > lastEnd),
        ...(hold ? { hold } : {}),
      };
    }
    default:
      // The sleep-and-wake events: folded by evolveSleep (deployment-sleep.ts).
      return state;
  }
}

function closeInterval(state: DeploymentState, at: string): DeploymentState {
  if (state.runningSince === null) return state;
  return {
    ...state,
    runningSince: null,
    closedIntervals: [...state.closedIntervals, { from: state.runningSince, to: at }],
  };
}

export const deploymentDecider: Decider<DeploymentCommand, DeploymentEvent, DeploymentState> = {
  decide,
  evolve,
  initialState: initialDeploymentState,
};

/** The state after `events` (from the initial state unless given): for specs and history checks. */
export function fold(
  events: readonly DeploymentEvent[],
  state: DeploymentState = initialDeploymentState(),
): DeploymentState {
  return events.reduce(evolve, state);
}

// ---- metering (pure) ----

export const MINUTE_MS = 60_000;

/**
 * Minutes to charge now, oldest first. Billing is per started minute and prepaid: a minute is
 * due as soon as the pod is billed during it (from PodCreated/PodResumed; PodStarted on old
 * streams), so a failed charge stops the pod before it runs unpaid, and a minute already metered
 * is never due again.
 */
export function dueMinutes(state: DeploymentState, now: Date): string[] {
  const intervals: { from: number; to: number; closed: boolean }[] = state.closedIntervals.map((
    i,
  ) => ({
    from: Date.parse(i.from),
    to: Date.parse(i.to),
    closed: true,
  }));
  if (state.runningSince !== null) {
    intervals.push({ from: Date.parse(state.runningSince), to: now.getTime(), closed: false });
  }
  const after = state.lastMeteredMinute === null ? -Infinity : Date.parse(state.lastMeteredMinute);
  const due = new Set<number>();
  for (const interval of intervals) {
    for (
      let minute = Math.floor(interval.from / MINUTE_MS) * MINUTE_MS;
      interval.closed ? minute < interval.to : minute <= interval.to;
      minute += MINUTE_MS
    ) {
      if (minute > after) due.add(minute);
    }
  }
  return [...due].sort((a, b) => a - b).map((ms) => new Date(ms).toISOString());
}

/** Price of one pod-minute in micro-dollars: round(cost USD/h × multiplier × 10^6 / 60). */
export function minutePriceMicros(costPerHourUsd: number, multiplier: number): Micros {
  // Integer micro-dollars per hour first, so float noise in `cost` never reaches the ledger.
  const perHourMicros = Math.round(costPerHourUsd * MICROS_PER_USD);
  return Math.round((perHourMicros * multiplier) / 60);
}
