import { Inject, Injectable } from "@nestjs/common";
import type { StatementSync } from "node:sqlite";
import { ProjectionRunner } from "../projections/projection-runner.ts";
import { ReadModelDatabase } from "../projections/read-model.database.ts";
import type { ModelGroupMember, ModelGroupStrategy } from "./model-group.events.ts";
import { MODEL_GROUPS_PROJECTION, modelGroupsProjection } from "./model-groups.projection.ts";

/** One live group, as routing and the API read it. */
export interface ModelGroupView {
  id: string;
  accountId: string;
  name: string;
  strategy: ModelGroupStrategy;
  members: readonly ModelGroupMember[];
  createdAt: string;
}

interface Row {
  id: string;
  account_id: string;
  name: string;
  strategy: string;
  members: string;
  created_at: string;
}

/**
 * Reads of the `model_groups` read model. `resolve` runs for every request whose `model` is not
 * one of the account's deployments: it answers from an in-memory index of every live group,
 * rebuilt only when the projection next changes a row (groups change rarely and each account has
 * at most MAX_MODEL_GROUPS_PER_ACCOUNT), so a request costs one map lookup.
 */
@Injectable()
export class ModelGroupsQueries {
  private readonly all: StatementSync;
  private readonly byAccount: StatementSync;
  private readonly byId: StatementSync;
  private index = new Map<string, ModelGroupView>();
  private indexedAt = -1;

  constructor(
    @Inject(ReadModelDatabase) readModels: ReadModelDatabase,
    @Inject(ProjectionRunner) private readonly runner: ProjectionRunner,
  ) {
    const db = readModels.db;
    // Idempotent; the module may build this service before it registers the projection.
    modelGroupsProjection.setup(db);
    this.all = db.prepare("SELECT * FROM model_groups");
    this.byAccount = db.prepare(
      "SELECT * FROM model_groups WHERE account_id = ? ORDER BY created_at, id",
    );
    this.byId = db.prepare("SELECT * FROM model_groups WHERE account_id = ? AND id = ?");
  }

  /** Waits (bounded) until the read model includes a write at `position`. */
  waitFor(position: bigint): Promise<void> {
    return this.runner.waitFor(position, [MODEL_GROUPS_PROJECTION]);
  }

  listForAccount(accountId: string): ModelGroupView[] {
    return (this.byAccount.all(accountId) as unknown as Row[]).map(toView);
  }

  get(accountId: string, id: string): ModelGroupView | undefined {
    const row = this.byId.get(accountId, id) as unknown as Row | undefined;
    return row ? toView(row) : undefined;
  }

  /** The account's group named `model`, if any (the inference router's question). */
  resolve(accountId: string, model: string): ModelGroupView | undefined {
    const changes = this.runner.changeCount(MODEL_GROUPS_PROJECTION);
    if (changes !== this.indexedAt) {
      const index = new Map<string, ModelGroupView>();
      for (const row of this.all.all() as unknown as Row[]) {
        index.set(`${row.account_id}\n${row.name}`, Object.freeze(toView(row)));
      }
      this.index = index;
      this.indexedAt = changes;
    }
    // Most installations have no group: a catalogue request then builds no key at all.
    if (this.index.size === 0) return undefined;
    return this.index.get(`${accountId}\n${model}`);
  }
}

function toView(row: Row): ModelGroupView {
  return {
    id: row.id,
    accountId: row.account_id,
    name: row.name,
    strategy: row.strategy as ModelGroupStrategy,
    members: Object.freeze(JSON.parse(row.members) as ModelGroupMember[]),
    createdAt: row.created_at,
  };
}
