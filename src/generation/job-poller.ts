import {
  Inject,
  Injectable,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
} from "@nestjs/common";
import { logger } from "../common/json-logger.ts";
import { PeriodicSweep } from "../common/repeat.ts";
import { APP_CONFIG, type AppConfig, runsSharedSweeps } from "../config/config.ts";
import { GenerationService } from "./generation.service.ts";
import { JobQueries, type JobView } from "./job.queries.ts";
import { JobBilling } from "./job-billing.ts";

const BATCH = 200;
const CONCURRENCY = 8;
const BILLING_RETRY_MS = 30_000;

/**
 * Finishes what requests started: polls RunPod for every open job in the job-status
 * projection (so jobs in flight across a restart still end), and finishes billing for ended
 * jobs the ledger has not yet charged or released. Every instance may run it: the job
 * stream's expected revision lets only one instance end a job, and the ledger settles or
 * releases a hold once. A pass runs at start, then every `jobPollIntervalMs`, one at a time.
 */
@Injectable()
export class JobPoller implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly passes: PeriodicSweep<void>;
  private readonly sweepsHere: boolean;
  private stopped = false;
  private readonly billingRetryAt = new Map<string, number>();
  private readonly inFlight = new Set<string>();

  constructor(
    @Inject(GenerationService) private readonly generation: GenerationService,
    @Inject(JobBilling) private readonly billing: JobBilling,
    @Inject(JobQueries) private readonly queries: JobQueries,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.sweepsHere = runsSharedSweeps(config);
    this.passes = new PeriodicSweep(
      config.jobPollIntervalMs,
      () => this.pass(),
      (error) => this.logFailure(error),
    );
  }

  onApplicationBootstrap(): void {
    if (this.sweepsHere) this.passes.start();
  }

  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    await this.passes.stop();
  }

  /** One pass: poll open jobs, then finish pending billing. Exposed for tests and the bench. */
  tick(): Promise<void> {
    return this.passes.run();
  }

  private async pass(): Promise<void> {
    try {
      const open = this.queries.openJobs(BATCH).filter((job) => !this.inFlight.has(job.id));
      await forEachLimited(open, CONCURRENCY, (job) => this.refresh(job));
      if (this.stopped) return;
      const now = Date.now();
      const unbilled = this.queries.unbilledJobs(BATCH)
        .filter((job) => (this.billingRetryAt.get(job.id) ?? 0) <= now);
      await forEachLimited(unbilled, CONCURRENCY, (job) => this.finishBilling(job));
    } catch (error) {
      // Caught here so that tick() never rejects.
      this.logFailure(error);
    }
  }

  private logFailure(error: unknown): void {
    if (!this.stopped) {
      logger.write("error", "job poller pass failed", { error: (error as Error).message });
    }
  }

  private async refresh(job: JobView): Promise<void> {
    if (this.stopped) return;
    this.inFlight.add(job.id);
    try {
      await this.generation.refresh(job);
    } catch (error) {
      logger.write("warn", "job poll failed; retrying next pass", {
        jobId: job.id,
        error: (error as Error).message,
      });
    } finally {
      this.inFlight.delete(job.id);
    }
  }

  private async finishBilling(job: JobView): Promise<void> {
    try {
      if (job.status === "completed") await this.billing.settle(job.accountId, job.id, job);
      else await this.billing.release(job.accountId, job.id, `job_${job.status}`);
      this.billingRetryAt.delete(job.id);
    } catch (error) {
      this.billingRetryAt.set(job.id, Date.now() + BILLING_RETRY_MS);
      logger.write("warn", "job billing failed; retrying later", {
        jobId: job.id,
        error: (error as Error).message,
      });
    }
  }
}

async function forEachLimited<T>(
  items: T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await work(items[next++]);
  });
  await Promise.all(workers);
}
