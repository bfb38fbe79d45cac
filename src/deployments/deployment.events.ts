/**
 * Every fact about a deployment, on the stream `deployment-<id>` (id = the RunPod pod id for
 * pods, `ext_…` for external upstreams). The deployments read model folds these; the
 * inference router reads that model to route requests.
 */
export type DeploymentProvider = "runpod" | "external";

/** Lifecycle as users see it (GET /api/deployments, model_not_available messages). */
export type DeploymentStatus =
  | "pending" // requested, pod not created yet
  | "provisioning" // pod created, not RUNNING yet
  | "pulling" // pod RUNNING and Ollama up, model being pulled
  | "running" // ready to serve
  | "stopped"
  | "failed"
  | "terminated";

/** `idle`: no request for idle_timeout_s (wakes on the next one); `spend_cap`: max_spend_usd reached this month. */
export type PodStopReason =
  | "user"
  | "insufficient_credits"
  | "failed"
  | "external"
  | "idle"
  | "spend_cap";

/** Sleep-and-wake settings of a pod deployment (absent: never idles, no cap). */
export interface DeploymentSleepSettings {
  /** Stop the pod (reason `idle`) when no request reached it for this many seconds. */
  idleTimeoutS?: number;
  /** A request for a pod stopped by `idle` (or `spend_cap` once spend allows) starts it. */
  wakeOnRequest?: boolean;
  /** Per calendar month (UTC): reaching it stops the pod with reason `spend_cap`. */
  maxSpendMicros?: number;
}

export interface DeploymentRequested {
  deploymentId: string;
  accountId: string;
  provider: DeploymentProvider;
  /** Short name clients use as `model` (e.g. `mistral`). */
  name: string;
  /** What the upstream serves (e.g. `mistral:7b`). */
  modelIdentifier: string;
  gpuTypeId?: string;
  /** External upstreams: OpenAI-compatible base URL (…/v1). */
  baseUrl?: string;
  /** External upstreams: encrypted upstream API key reference, never the plaintext. */
  apiKeyCiphertext?: string;
  /** Declared to speak the realtime protocol at `<base_url>/realtime` (absent: it does not). */
  realtime?: boolean;
  /** Sleep and wake (absent on older streams: the pod never idles). */
  sleep?: DeploymentSleepSettings;
  requestedAt: string;
}

/** `PATCH /api/deployments/{id}`: the sleep settings now (each field replaces the old one; null clears). */
export interface DeploymentSettingsChanged {
  deploymentId: string;
  idleTimeoutS?: number | null;
  wakeOnRequest?: boolean;
  maxSpendMicros?: number | null;
  changedAt: string;
}

/**
 * A request reached the deployment. Appended at most once per DEPLOYMENT_USED_FLUSH_MS per
 * instance (the waker keeps the exact time in memory), so every instance's idle sweep sees use
 * on any instance, and a restart forgets nothing older than that interval.
 */
export interface DeploymentUsed {
  deploymentId: string;
  lastUsedAt: string;
}

/** A request found the pod asleep and asked for it; the instance that appended this starts it. */
export interface DeploymentWakeRequested {
  deploymentId: string;
  requestedAt: string;
}

/** The woken pod answered its warm-up inference: ready, after `waitedMs` from the request. */
export interface DeploymentWoken {
  deploymentId: string;
  waitedMs: number;
  wokenAt: string;
}

export interface DeploymentWakeFailed {
  deploymentId: string;
  reason: string;
  failedAt: string;
}

/**
 * The pod could not come back (restarted without a GPU, or no free GPU on its machine): a new
 * pod with the same image and model serves the SAME deployment id and name from now on; the
 * old one is terminated. Billed from `createdAt` at `costPerHourUsd`, against `prepaidHold`.
 */
export interface PodReplaced {
  deploymentId: string;
  oldPodId: string;
  newPodId: string;
  gpuTypeId: string;
  costPerHourUsd: number;
  reason: string;
  createdAt: string;
  prepaidHold?: PodPrepaidHold;
  quotedCostPerHourUsd?: number;
}

/** The credit held at deploy for the first POD_MIN_PREPAID_MINUTES (see PodHoldClosed). */
export interface PodPrepaidHold {
  /** The ledger reservation id (`pod:<claimId>`). */
  reservationId: string;
  amountMicros: number;
  /** Most minutes metered against the hold (POD_MIN_PREPAID_MINUTES at deploy). */
  minutes: number;
}

export interface PodCreated {
  deploymentId: string;
  podId: string;
  gpuTypeId: string;
  /** USD per hour as RunPod reports it (`cost`), before POD_PRICE_MULTIPLIER. */
  costPerHourUsd: number;
  createdAt: string;
  /**
   * `created`: billed from this event on (provisioning and the pull are paid for). Absent on
   * streams written before that rule: those are billed from PodStarted, as they always were.
   */
  billedFrom?: "created";
  /** Absent on older streams and when nothing was held: every minute is charged directly. */
  prepaidHold?: PodPrepaidHold;
  /** The quote the hold was priced at (RunPod's GPU catalogue or the price table), USD/h. */
  quotedCostPerHourUsd?: number;
  /** The per-account pod slot (`podslots-<accountId>`) this pod holds. */
  slotClaimId?: string;
}

/** A stopped pod was started again: billed from here (the restart's provisioning included). */
export interface PodResumed {
  deploymentId: string;
  /** RunPod's `cost` after the start: the pod may have moved to another machine and price. */
  costPerHourUsd: number;
  resumedAt: string;
}

/**
 * No more minutes go against the prepaid hold: its window is closed at `amountMicros` (the sum
 * of the prepaid minutes). Decided on the deployment stream first, so no instance can meter
 * another prepaid minute; the ledger settle follows and PodHoldSettled confirms it.
 */
export interface PodHoldClosed {
  deploymentId: string;
  reservationId: string;
  amountMicros: number;
  minutes: number;
  closedAt: string;
}

/** The ledger settled (or, at 0, released) the hold at the amount PodHoldClosed fixed. */
export interface PodHoldSettled {
  deploymentId: string;
  reservationId: string;
  amountMicros: number;
  settledAt: string;
}

export interface PodStarted {
  deploymentId: string;
  /** OpenAI-compatible base URL through the pod proxy (…/v1). */
  baseUrl: string;
  startedAt: string;
}

export interface ModelPulled {
  deploymentId: string;
  modelIdentifier: string;
  pulledAt: string;
}

export interface PodStopped {
  deploymentId: string;
  reason: PodStopReason;
  detail?: string;
  stoppedAt: string;
}

export interface PodTerminated {
  deploymentId: string;
  terminatedAt: string;
}

export interface DeploymentFailed {
  deploymentId: string;
  reason: string;
  failedAt: string;
  /** The pod was terminated (or was gone) when the failure was recorded; absent on older streams. */
  podTerminated?: boolean;
}

export interface DeploymentHealthChanged {
  deploymentId: string;
  healthy: boolean;
  services: Record<string, string>;
  responseTimeMs: number | null;
  checkedAt: string;
}

export interface DeploymentUsageMetered {
  deploymentId: string;
  accountId: string;
  /** The metered minute, ISO `YYYY-MM-DDTHH:MM:00.000Z`; one event per pod-minute. */
  minute: string;
  amountMicros: number;
  /** Covered by the prepaid hold (no ledger charge of its own; the hold is settled for it). */
  prepaid?: boolean;
}

/**
 * An external upstream was deleted by its account: no longer listed or routed to, its name free
 * again. (Pods end with PodTerminated instead: RunPod has to give the pod back first.)
 */
export interface ExternalUpstreamRemoved {
  deploymentId: string;
  removedAt: string;
}

/** An external upstream's API key was replaced (encrypted, never the plaintext). */
export interface ExternalUpstreamKeyReplaced {
  deploymentId: string;
  apiKeyCiphertext: string;
  replacedAt: string;
}

export interface DeploymentEventMap {
  DeploymentRequested: DeploymentRequested;
  PodCreated: PodCreated;
  PodStarted: PodStarted;
  PodResumed: PodResumed;
  PodHoldClosed: PodHoldClosed;
  PodHoldSettled: PodHoldSettled;
  ModelPulled: ModelPulled;
  PodStopped: PodStopped;
  PodTerminated: PodTerminated;
  DeploymentFailed: DeploymentFailed;
  DeploymentHealthChanged: DeploymentHealthChanged;
  DeploymentUsageMetered: DeploymentUsageMetered;
  ExternalUpstreamRemoved: ExternalUpstreamRemoved;
  ExternalUpstreamKeyReplaced: ExternalUpstreamKeyReplaced;
  DeploymentSettingsChanged: DeploymentSettingsChanged;
  DeploymentUsed: DeploymentUsed;
  DeploymentWakeRequested: DeploymentWakeRequested;
  DeploymentWoken: DeploymentWoken;
  DeploymentWakeFailed: DeploymentWakeFailed;
  PodReplaced: PodReplaced;
}

export type DeploymentEventType = keyof DeploymentEventMap;

export const DEPLOYMENT_EVENT_TYPES = [
  "DeploymentRequested",
  "PodCreated",
  "PodStarted",
  "PodResumed",
  "PodHoldClosed",
  "PodHoldSettled",
  "ModelPulled",
  "PodStopped",
  "PodTerminated",
  "DeploymentFailed",
  "DeploymentHealthChanged",
  "DeploymentUsageMetered",
  "ExternalUpstreamRemoved",
  "ExternalUpstreamKeyReplaced",
  "DeploymentSettingsChanged",
  "DeploymentUsed",
  "DeploymentWakeRequested",
  "DeploymentWoken",
  "DeploymentWakeFailed",
  "PodReplaced",
] as const satisfies readonly DeploymentEventType[];

export const deploymentStream = (deploymentId: string) => `deployment-${deploymentId}`;
