import { type BeforeApplicationShutdown, Injectable } from "@nestjs/common";
import { isDomainError } from "../common/domain-error.ts";
import { logger } from "../common/json-logger.ts";
import { sleep } from "../common/sleep.ts";
import { ReadModelUnavailable } from "../projections/read-model-unavailable.ts";

/** Waits between attempts: a store hiccup clears in well under a second, a restart in seconds. */
export const SETTLEMENT_RETRY_DELAYS_MS = [100, 500, 2_000, 5_000] as const;

/**
 * Settles and releases per-request holds off the response path, so the client never waits for
 * the ledger: each settlement is retried a bounded number of times (a definitive refusal is
 * not), and shutdown waits for the ones still running before the event store closes. This is
 * the fast path only. What it gives up on (or a crash loses) is not lost: the charge
 * reconciler (billing/charge-reconciler.process.ts) charges every completed request whose
 * charge is missing, with the same key, or records why it could not.
 */
@Injectable()
export class PendingSettlements implements BeforeApplicationShutdown {
  private readonly pending = new Set<Promise<void>>();

  constructor(private readonly delaysMs: readonly number[] = SETTLEMENT_RETRY_DELAYS_MS) {}

  track(what: string, reservationId: string, attempt: () => Promise<unknown>): void {
    const run = this.withRetries(what, reservationId, attempt).finally(() =>
      this.pending.delete(run)
    );
    this.pending.add(run);
  }

  get size(): number {
    return this.pending.size;
  }

  /** Resolves when every tracked settlement has finished (succeeded or given up). */
  async drain(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.drain();
  }

  private async withRetries(
    what: string,
    reservationId: string,
    attempt: () => Promise<unknown>,
  ): Promise<void> {
    for (let tries = 0;; tries++) {
      try {
        await attempt();
        return;
      } catch (error) {
        const definitive = isDefinitive(error);
        if (definitive || tries >= this.delaysMs.length) {
          // A settlement left undone is the charge reconciler's; a release left undone, expiry's.
          logger.write("warn", `inference ${what} failed; left to the reconciler`, {
            reservationId,
            attempts: tries + 1,
            error: (error as Error).message,
          });
          return;
        }
        await sleep(this.delaysMs[tries]);
      }
    }
  }
}

/**
 * A rule refused it, so a retry would be refused again. A busy ledger (ledger_conflict) and a
 * read model that is behind, failed or stopping (ReadModelUnavailable) can clear, so they are
 * retried, as is anything that is not a domain refusal (a store outage).
 */
function isDefinitive(error: unknown): boolean {
  return isDomainError(error) && error.code !== "ledger_conflict" &&
    !(error instanceof ReadModelUnavailable);
}
