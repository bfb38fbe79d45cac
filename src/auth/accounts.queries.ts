import { Inject, Injectable } from "@nestjs/common";
import { ProjectionRunner } from "../projections/projection-runner.ts";
import { ReadModelDatabase } from "../projections/read-model.database.ts";
import { ACCOUNTS_PROJECTION } from "./accounts.projection.ts";
import { normaliseEmail } from "./secrets.ts";

export interface AccountSummary {
  id: string;
  email: string;
  createdAt: string;
  disabled: boolean;
}

export interface AccountDetails extends AccountSummary {
  /** `password` when the account has one, then each linked provider once, e.g. `github`. */
  loginMethods: string[];
}

interface AccountRow {
  id: string;
  email: string;
  created_at: string;
  disabled: number;
  has_password: number;
}

/** Account lookups, exported by AuthModule for billing, admin and OAuth. */
@Injectable()
export class AccountsQueries {
  constructor(
    @Inject(ProjectionRunner) private readonly runner: ProjectionRunner,
    @Inject(ReadModelDatabase) private readonly readModels: ReadModelDatabase,
  ) {}

  /** Waits until the accounts projection is current, so an account created just before is found. */
  async findById(id: string): Promise<AccountDetails | undefined> {
    await this.runner.untilCurrent([ACCOUNTS_PROJECTION]);
    const row = this.readModels.db.prepare(
      "SELECT id, email, created_at, disabled, has_password FROM auth_accounts WHERE id = ?",
    ).get(id) as AccountRow | undefined;
    if (!row) return undefined;
    const providers = this.readModels.db.prepare(
      `SELECT DISTINCT provider FROM auth_login_methods WHERE account_id = ?
       ORDER BY provider`,
    ).all(id) as Array<{ provider: string }>;
    return {
      ...summaryOf(row),
      loginMethods: [
        ...(row.has_password ? ["password"] : []),
        ...providers.map((method) => method.provider),
      ],
    };
  }

  /** The account registered with this email (normalised as sign-up does), if any. */
  async accountIdByEmail(email: string): Promise<string | undefined> {
    await this.runner.untilCurrent([ACCOUNTS_PROJECTION]);
    const row = this.readModels.db.prepare(
      "SELECT id FROM auth_accounts WHERE email = ? ORDER BY created_at LIMIT 1",
    ).get(normaliseEmail(email)) as { id: string } | undefined;
    return row?.id;
  }

  /** The account a provider identity is linked to, if any. */
  async accountIdByLoginMethod(provider: string, subject: string): Promise<string | undefined> {
    await this.runner.untilCurrent([ACCOUNTS_PROJECTION]);
    const row = this.readModels.db.prepare(
      `SELECT account_id FROM auth_login_methods WHERE provider = ? AND subject = ?
       ORDER BY linked_at LIMIT 1`,
    ).get(provider, subject) as { account_id: string } | undefined;
    return row?.account_id;
  }

  /**
   * Accounts whose email contains `query` or whose id starts with it (all without one), by id.
   * `after` is the last id of the previous page; undefined when that id is unknown.
   */
  async search(
    query: string | undefined,
    limit: number,
    after: string | undefined,
  ): Promise<{ accounts: AccountSummary[]; nextCursor: string | null }> {
    await this.runner.untilCurrent([ACCOUNTS_PROJECTION]);
    // instr and substr, not LIKE: the operator's text is matched literally, `%` and `_` included.
    const rows = this.readModels.db.prepare(
      `SELECT id, email, created_at, disabled, has_password FROM auth_accounts
       WHERE (?1 IS NULL OR instr(email, lower(?1)) > 0 OR substr(id, 1, length(?1)) = ?1)
         AND (?2 IS NULL OR id > ?2)
       ORDER BY id LIMIT ?3`,
    ).all(query ?? null, after ?? null, limit + 1) as unknown as AccountRow[];
    const page = rows.slice(0, limit).map(summaryOf);
    return {
      accounts: page,
      nextCursor: rows.length > limit ? page[page.length - 1].id : null,
    };
  }
}

function summaryOf(row: AccountRow): AccountSummary {
  return {
    id: row.id,
    email: row.email,
    createdAt: row.created_at,
    disabled: row.disabled === 1,
  };
}
