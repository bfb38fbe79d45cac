import { ApiError } from "../common/api-error.ts";

/**
 * Upstream calls each account has open at once, in this process (instances behind a load
 * balancer each count their own). Past the cap a request gets 429 `concurrency_limit_exceeded`
 * before anything is reserved or sent, so one tenant cannot hold every upstream connection.
 * The caller pairs each successful `acquire` with exactly one `release` (try/finally).
 */
export class AccountConcurrency {
  private readonly inFlight = new Map<string, number>();

  constructor(private readonly limit: number) {}

  acquire(accountId: string): void {
    const open = this.inFlight.get(accountId) ?? 0;
    if (open >= this.limit) {
      throw new ApiError(
        429,
        `Too many concurrent requests: this account may have ${this.limit} requests in progress at once. Retry when one has finished.`,
        { type: "rate_limit_error", code: "concurrency_limit_exceeded" },
      );
    }
    this.inFlight.set(accountId, open + 1);
  }

  release(accountId: string): void {
    const open = this.inFlight.get(accountId) ?? 0;
    // Idle accounts leave the map, so it holds only accounts with a call in flight.
    if (open <= 1) this.inFlight.delete(accountId);
    else this.inFlight.set(accountId, open - 1);
  }

  /** Calls the account has in flight now. */
  count(accountId: string): number {
    return this.inFlight.get(accountId) ?? 0;
  }
}
