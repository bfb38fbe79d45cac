import { Inject, Injectable } from "@nestjs/common";
import { CLOCK, type Clock } from "../common/clock.ts";
import { ProjectionRunner } from "../projections/projection-runner.ts";
import { ReadModelDatabase } from "../projections/read-model.database.ts";
import { CREDENTIALS_PROJECTION } from "./credentials.projection.ts";

export interface SessionSummary {
  id: string;
  createdAt: string;
  expiresAt: string;
}

/** Most sessions listed (and ended by "log out other sessions" in one call): a bound on work. */
export const MAX_LISTED_SESSIONS = 1000;

/** An account's live sessions (neither ended nor expired), newest first; never token hashes. */
@Injectable()
export class SessionsQueries {
  constructor(
    @Inject(ProjectionRunner) private readonly runner: ProjectionRunner,
    @Inject(ReadModelDatabase) private readonly readModels: ReadModelDatabase,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  async liveSessions(accountId: string): Promise<SessionSummary[]> {
    await this.runner.untilCurrent([CREDENTIALS_PROJECTION]);
    const rows = this.readModels.db.prepare(
      `SELECT id, started_at, expires_at FROM auth_sessions
       WHERE account_id = ? AND ended_at IS NULL AND expires_at > ?
       ORDER BY started_at DESC, id LIMIT ?`,
    ).all(accountId, this.clock.now().toISOString(), MAX_LISTED_SESSIONS) as Array<{
      id: string;
      started_at: string;
      expires_at: string;
    }>;
    return rows.map((row) => ({
      id: row.id,
      createdAt: row.started_at,
      expiresAt: row.expires_at,
    }));
  }
}
