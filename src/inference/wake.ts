/**
 * What the pipeline needs of the deployments module's waker (DeploymentWaker): whether a request
 * must wait for its pod to wake, the wait itself, and a note that the pod was used. Injected
 * under this token so the pipeline depends on the three calls, not on how waking works.
 */
export interface Waker {
  /** Synchronous and cheap: true when a request for this deployment must wait for a wake. */
  needsWake(view: { id: string; provider: string; status: string }): boolean;
  /**
   * Starts (or joins) the wake and resolves once the pod answered a warm-up inference. Throws
   * DomainError `model_warming_up` (503 with Retry-After) past COLD_START_WAIT_MS, or the start
   * path's refusals (spend cap, credits, RunPod).
   */
  ensureAwake(
    accountId: string,
    deploymentId: string,
    options?: { onWaiting?: () => void; signal?: AbortSignal },
  ): Promise<{ woke: boolean; waitedMs: number }>;
  /** A request was routed to this pod deployment (keeps it from idling). Never throws. */
  touch(deploymentId: string): void;
}

export const WAKER = Symbol("WAKER");
