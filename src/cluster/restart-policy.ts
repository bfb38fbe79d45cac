/** A worker that dies is restarted after this, doubling per quick death up to the cap. */
const FIRST_RESTART_DELAY_MS = 500;
const MAX_RESTART_DELAY_MS = 30_000;
/** More deaths than this of one worker within the window means it cannot run: stop all. */
const MAX_RESTARTS_IN_WINDOW = 5;
const RESTART_WINDOW_MS = 60_000;
/** A worker that stayed up this long starts its backoff afresh. */
const HEALTHY_UPTIME_MS = 30_000;

export type RestartDecision =
  | { restart: true; inMs: number }
  | { restart: false; deaths: number; windowMs: number };

/**
 * When the supervisor restarts one worker slot that died, or decides it keeps dying and the
 * cluster must stop. Times are passed in (milliseconds on one monotonic clock), so the policy
 * is decided without waiting for real deaths.
 */
export class RestartPolicy {
  private deaths: number[] = [];
  private delayMs = FIRST_RESTART_DELAY_MS;

  /** The worker, started at `startedAt`, died at `now`. */
  onDeath(startedAt: number, now: number): RestartDecision {
    if (now - startedAt >= HEALTHY_UPTIME_MS) this.delayMs = FIRST_RESTART_DELAY_MS;
    this.deaths = [...this.deaths.filter((at) => now - at < RESTART_WINDOW_MS), now];
    if (this.deaths.length > MAX_RESTARTS_IN_WINDOW) {
      return { restart: false, deaths: this.deaths.length, windowMs: RESTART_WINDOW_MS };
    }
    const inMs = this.delayMs;
    this.delayMs = Math.min(this.delayMs * 2, MAX_RESTART_DELAY_MS);
    return { restart: true, inMs };
  }
}
