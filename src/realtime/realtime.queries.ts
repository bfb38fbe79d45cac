import { Inject, Injectable } from "@nestjs/common";
import type { StatementSync } from "node:sqlite";
import { EVENT_STORE, type EventStore } from "../event-store/event-store.port.ts";
import { ProjectionRunner } from "../projections/projection-runner.ts";
import { ReadModelDatabase } from "../projections/read-model.database.ts";
import {
  REALTIME_CAPABILITIES_PROJECTION,
  REALTIME_SESSIONS_PROJECTION,
} from "./realtime.projection.ts";

export interface OpenSessionRow {
  sessionId: string;
  accountId: string;
  instanceId: string;
  startedAt: string;
}

/** Reads of the realtime read models. */
@Injectable()
export class RealtimeQueries {
  private capability?: StatementSync;
  private open?: StatementSync;

  constructor(
    @Inject(ProjectionRunner) private readonly runner: ProjectionRunner,
    @Inject(ReadModelDatabase) private readonly readModels: ReadModelDatabase,
    @Inject(EVENT_STORE) private readonly store: EventStore,
  ) {}

  /** Whether the deployment declared `"realtime": true` (after every registration so far). */
  async speaksRealtime(deploymentId: string): Promise<boolean> {
    await this.runner.untilCurrent([REALTIME_CAPABILITIES_PROJECTION]);
    this.capability ??= this.readModels.db.prepare(
      "SELECT 1 AS yes FROM realtime_deployments WHERE deployment_id = ?",
    );
    return this.capability.get(deploymentId) !== undefined;
  }

  /** Sessions without an end, oldest first, started before `startedBefore` or on `instanceId`. */
  async openSessions(
    instanceId: string,
    startedBefore: Date,
    limit: number,
  ): Promise<OpenSessionRow[]> {
    // Readers never wait on this model, so untilCurrent would not cover its events: the head does.
    await this.runner.waitFor(await this.store.headPosition(), [REALTIME_SESSIONS_PROJECTION]);
    this.open ??= this.readModels.db.prepare(
      `SELECT session_id, account_id, instance_id, started_at FROM realtime_sessions
       WHERE instance_id = ? OR started_at < ? ORDER BY started_at LIMIT ?`,
    );
    const rows = this.open.all(instanceId, startedBefore.toISOString(), limit) as Array<{
      session_id: string;
      account_id: string;
      instance_id: string;
      started_at: string;
    }>;
    return rows.map((row) => ({
      sessionId: row.session_id,
      accountId: row.account_id,
      instanceId: row.instance_id,
      startedAt: row.started_at,
    }));
  }
}
