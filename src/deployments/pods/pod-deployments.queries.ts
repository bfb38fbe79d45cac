import { Inject, Injectable } from "@nestjs/common";
import { EVENT_STORE, type EventStore } from "../../event-store/event-store.port.ts";
import { ProjectionRunner } from "../../projections/projection-runner.ts";
import { ReadModelDatabase } from "../../projections/read-model.database.ts";
import type { DeploymentStatus } from "../deployment.events.ts";
import { DEPLOYMENTS_PROJECTION, deploymentsProjection } from "../deployments.projection.ts";

export interface PodDeploymentRow {
  id: string;
  accountId: string;
  status: DeploymentStatus;
  updatedAt: string;
  /** The RunPod pod serving it now (the deployment id, until a PodReplaced). */
  podId: string;
  idleTimeoutS?: number;
  lastUsedAt?: string;
}

/**
 * Cross-account reads of the deployments read model for the background processes
 * (provisioner resume, reconciler, metering). Same module's read model, read-only.
 */
@Injectable()
export class PodDeploymentsQueries {
  constructor(
    @Inject(ReadModelDatabase) private readonly readModels: ReadModelDatabase,
    @Inject(ProjectionRunner) private readonly runner: ProjectionRunner,
    @Inject(EVENT_STORE) private readonly store: EventStore,
  ) {
    deploymentsProjection.setup(readModels.db);
  }

  /** Waits until the read model holds everything in the store now (start-up, loop ticks). */
  async catchUp(): Promise<void> {
    await this.runner.waitFor(await this.store.headPosition(), [DEPLOYMENTS_PROJECTION]);
  }

  withStatus(statuses: readonly DeploymentStatus[]): PodDeploymentRow[] {
    if (statuses.length === 0) return [];
    const rows = this.readModels.db.prepare(
      `SELECT id, account_id, status, updated_at, pod_id, idle_timeout_s, last_used_at
       FROM deployments
       WHERE provider = 'runpod' AND pod_id IS NOT NULL AND status IN (${
        statuses.map(() => "?").join(", ")
      })
       ORDER BY created_at, id`,
    ).all(...statuses) as unknown as {
      id: string;
      account_id: string;
      status: string;
      updated_at: string;
      pod_id: string;
      idle_timeout_s: number | null;
      last_used_at: string | null;
    }[];
    return rows.map((row) => ({
      id: row.id,
      accountId: row.account_id,
      status: row.status as DeploymentStatus,
      updatedAt: row.updated_at,
      podId: row.pod_id,
      idleTimeoutS: row.idle_timeout_s ?? undefined,
      lastUsedAt: row.last_used_at ?? undefined,
    }));
  }
}
