import { Inject, Injectable } from "@nestjs/common";
import { ProjectionRunner } from "../projections/projection-runner.ts";
import { ReadModelDatabase } from "../projections/read-model.database.ts";
import { ACCOUNTS_PROJECTION } from "./accounts.projection.ts";

export interface AccountSummary {
  id: string;
  email: string;
  createdAt: string;
}

/** Account lookups, exported by AuthModule for billing and admin. */
@Injectable()
export class AccountsQueries {
  constructor(
    @Inject(ProjectionRunner) private readonly runner: ProjectionRunner,
    @Inject(ReadModelDatabase) private readonly readModels: ReadModelDatabase,
  ) {}

  /** Waits until the accounts projection is current, so an account created just before is found. */
  async findById(id: string): Promise<AccountSummary | undefined> {
    await this.runner.untilCurrent([ACCOUNTS_PROJECTION]);
    const row = this.readModels.db.prepare(
      "SELECT id, email, created_at FROM auth_accounts WHERE id = ?",
    ).get(id) as { id: string; email: string; created_at: string } | undefined;
    return row ? { id: row.id, email: row.email, createdAt: row.created_at } : undefined;
  }
}
