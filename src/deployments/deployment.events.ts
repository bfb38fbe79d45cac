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

export type PodStopReason = "user" | "insufficient_credits" | "failed" | "external";

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
  requestedAt: string;
}

export interface PodCreated {
  deploymentId: string;
  podId: string;
  gpuTypeId: string;
  /** USD per hour as RunPod reports it (`cost`), before POD_PRICE_MULTIPLIER. */
  costPerHourUsd: number;
  createdAt: string;
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
}

export interface DeploymentEventMap {
  DeploymentRequested: DeploymentRequested;
  PodCreated: PodCreated;
  PodStarted: PodStarted;
  ModelPulled: ModelPulled;
  PodStopped: PodStopped;
  PodTerminated: PodTerminated;
  DeploymentFailed: DeploymentFailed;
  DeploymentHealthChanged: DeploymentHealthChanged;
  DeploymentUsageMetered: DeploymentUsageMetered;
}

export type DeploymentEventType = keyof DeploymentEventMap;

export const DEPLOYMENT_EVENT_TYPES = [
  "DeploymentRequested",
  "PodCreated",
  "PodStarted",
  "ModelPulled",
  "PodStopped",
  "PodTerminated",
  "DeploymentFailed",
  "DeploymentHealthChanged",
  "DeploymentUsageMetered",
] as const satisfies readonly DeploymentEventType[];

export const deploymentStream = (deploymentId: string) => `deployment-${deploymentId}`;
