/**
 * Growing delays for one key (e.g. logins to one email): the first `freeAttempts` attempts go
 * ahead at once; after that each attempt must wait `baseDelayMs` after the previous one,
 * doubling each time up to `maxDelayMs`. An attempt refused for waiting is not counted, so
 * retrying early never makes the wait longer; a success forgets the key.
 */
export interface BackoffPolicy {
  freeAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** A key with no attempt for this long (after its delay) is forgotten. */
  forgetAfterMs: number;
}

export interface BackoffRecord {
  attempts: number;
  lastAttemptAt: number;
}

/** How long the next attempt after `attempts` counted ones must wait after the last of them. */
export function backoffDelayMs(attempts: number, policy: BackoffPolicy): number {
  if (attempts < policy.freeAttempts) return 0;
  // The exponent is capped so the power stays finite; the delay is capped anyway.
  const doublings = Math.min(attempts - policy.freeAttempts, 40);
  return Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** doublings);
}

/**
 * Decides one attempt: `waitMs` 0 means it goes ahead and `next` is the record to store;
 * otherwise the attempt is refused and the record is unchanged.
 */
export function decideAttempt(
  record: BackoffRecord | undefined,
  now: number,
  policy: BackoffPolicy,
): { waitMs: number; next?: BackoffRecord } {
  const current = record && now - record.lastAttemptAt < forgetAfter(record.attempts, policy)
    ? record
    : { attempts: 0, lastAttemptAt: 0 };
  const waitMs = current.attempts === 0
    ? 0
    : current.lastAttemptAt + backoffDelayMs(current.attempts, policy) - now;
  if (waitMs > 0) return { waitMs };
  return { waitMs: 0, next: { attempts: current.attempts + 1, lastAttemptAt: now } };
}

/** How long after its last attempt a record is kept: its delay plus the forget period. */
export function forgetAfter(attempts: number, policy: BackoffPolicy): number {
  return backoffDelayMs(attempts, policy) + policy.forgetAfterMs;
}

/** Keys (and their counters) that apply growing delays, in memory or shared through Redis. */
export interface BackoffStorage {
  /** Claims an attempt for `key`: 0 when it may go ahead (and is counted), else ms to wait. */
  claimAttempt(key: string, policy: BackoffPolicy): Promise<number>;
  /** Forgets every attempt counted for `key` (it succeeded). */
  forgetAttempts(key: string): Promise<void>;
}
