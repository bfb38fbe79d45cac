import { Inject, Injectable } from "@nestjs/common";
import { CLOCK, type Clock } from "../common/clock.ts";
import { ProjectionRunner } from "../projections/projection-runner.ts";
import { ReadModelDatabase } from "../projections/read-model.database.ts";
import { CREDENTIALS_PROJECTION } from "./credentials.projection.ts";
import { KeyUsageTracker } from "./key-usage.tracker.ts";
import type { Permission } from "./principal.ts";

export interface ApiKeySummary {
  id: string;
  name: string;
  permissions: Permission[];
  prefix: string;
  createdAt: string;
  lastUsedAt: string | null;
  expiresAt: string | null;
  /** Until when the secret replaced by the last rotation still works (null: it does not). */
  previousValidUntil: string | null;
}

/** An account's active keys; never the secret nor its hash. */
@Injectable()
export class ApiKeysQueries {
  constructor(
    @Inject(ProjectionRunner) private readonly runner: ProjectionRunner,
    @Inject(ReadModelDatabase) private readonly readModels: ReadModelDatabase,
    @Inject(KeyUsageTracker) private readonly usage: KeyUsageTracker,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  async listActive(accountId: string): Promise<ApiKeySummary[]> {
    await this.runner.untilCurrent([CREDENTIALS_PROJECTION]);
    const now = this.clock.now().toISOString();
    const rows = this.readModels.db.prepare(
      `SELECT id, name, permissions, prefix, created_at, last_used_at, expires_at,
       previous_valid_until FROM auth_api_keys
       WHERE account_id = ? AND revoked_at IS NULL ORDER BY created_at, id`,
    ).all(accountId) as Array<{
      id: string;
      name: string;
      permissions: string;
      prefix: string;
      created_at: string;
      last_used_at: string | null;
      expires_at: string | null;
      previous_valid_until: string | null;
    }>;
    return rows.map((row) => ({
      id: row.id,
      name: row.name,
      permissions: JSON.parse(row.permissions),
      prefix: row.prefix,
      createdAt: row.created_at,
      // Uses on this instance not flushed yet are newer than the read model.
      lastUsedAt: latest(row.last_used_at, this.usage.pendingLastUsed(row.id)),
      expiresAt: row.expires_at,
      // A grace period that has run out is no longer worth showing.
      previousValidUntil: row.previous_valid_until && row.previous_valid_until > now
        ? row.previous_valid_until
        : null,
    }));
  }
}

function latest(stored: string | null, pending: string | undefined): string | null {
  if (!pending) return stored;
  if (!stored) return pending;
  return pending > stored ? pending : stored;
}
