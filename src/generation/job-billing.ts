import { Inject, Injectable } from "@nestjs/common";
import { LedgerService } from "../billing/ledger.service.ts";
import { logger } from "../common/json-logger.ts";
import type { JobEvent } from "./job.events.ts";
import { JobCommandHandler } from "./job.handler.ts";
import { JobQueries, type JobView } from "./job.queries.ts";

/**
 * A job's hold, once the job ended: settled at the submitted price when it completed, released
 * when it failed or was cancelled. Requests bill right after they end a job; the poller finishes
 * what an instance left unbilled.
 */
@Injectable()
export class JobBilling {
  constructor(
    @Inject(LedgerService) private readonly ledger: LedgerService,
    @Inject(JobQueries) private readonly queries: JobQueries,
    @Inject(JobCommandHandler) private readonly jobs: JobCommandHandler,
  ) {}

  /**
   * Completed → settle the hold (once per job: the ledger settles a reservation once);
   * anything else → release it. Failures are logged: the poller finishes billing later.
   */
  async bill(accountId: string, jobId: string, events: JobEvent[]): Promise<void> {
    for (const event of events) {
      try {
        if (event.type === "JobCompleted") {
          const job = this.queries.find(jobId);
          await this.settle(accountId, jobId, job);
        } else if (event.type === "JobFailed" || event.type === "JobCancelled") {
          await this.release(
            accountId,
            jobId,
            event.type === "JobCancelled"
              ? "job_cancelled"
              : `job_${event.data.reason.toLowerCase()}`,
          );
        }
      } catch (error) {
        logger.write("warn", "job billing deferred", { jobId, error: (error as Error).message });
      }
    }
  }

  /** Settles a completed job's hold at its submitted price. */
  async settle(accountId: string, jobId: string, known?: JobView): Promise<void> {
    const { state } = known ? { state: undefined } : await this.jobs.load(jobId);
    const priceMicros = known?.priceMicros ?? state?.priceMicros;
    const model = known?.model ?? state?.model;
    const kind = known?.kind ?? state?.kind;
    if (priceMicros === undefined) throw new Error(`job ${jobId} has no price`);
    await this.ledger.settle(accountId, {
      reservationId: jobId,
      amountMicros: priceMicros,
      reference: `job:${jobId}`,
      ...(model ? { model } : {}),
      ...(kind ? { kind } : {}),
    }, { actor: "system:generation", correlationId: jobId });
  }

  async release(accountId: string, jobId: string, reason: string): Promise<void> {
    await this.ledger.release(accountId, { reservationId: jobId, reason }, {
      actor: "system:generation",
      correlationId: jobId,
    });
  }
}
