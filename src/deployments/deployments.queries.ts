import { Inject, Injectable } from "@nestjs/common";
import type { StatementSync } from "node:sqlite";
import { ReadModelDatabase } from "../projections/read-model.database.ts";
import { ProjectionRunner } from "../projections/projection-runner.ts";
import type { DeploymentProvider, DeploymentStatus, PodStopReason } from "./deployment.events.ts";
import { DEPLOYMENTS_PROJECTION, deploymentsProjection } from "./deployments.projection.ts";

/** One row of the deployments read model, as the rest of the app sees it. */
export interface DeploymentView {
  id: string;
  accountId: string;
  provider: DeploymentProvider;
  name: string;
  modelIdentifier: string;
  status: DeploymentStatus;
  /** OpenAI-compatible base URL (…/v1); undefined until a pod has started. */
  baseUrl?: string;
  /** Encrypted upstream API key (external upstreams); decrypt only to call the upstream. */
  apiKeyCiphertext?: string;
  gpuTypeId?: string;
  podId?: string;
  costPerHourUsd?: number;
  healthy?: boolean;
  failureReason?: string;
  /** Sum of the deployment's metered minutes (DeploymentUsageMetered), micro-dollars. */
  spendMicros: number;
  /** Sleep and wake (pods): absent settings mean never idle, no cap. */
  idleTimeoutS?: number;
  /** wake_on_request with its default (on when idle_timeout_s is set). */
  wakeOnRequest: boolean;
  maxSpendMicros?: number;
  stopReason?: PodStopReason;
  lastUsedAt?: string;
  wakeState?: "pending" | "woken" | "failed";
  wakeFailure?: string;
  /** Spend of the calendar month `spendMonth` (`YYYY-MM`, UTC). */
  spendMonth?: string;
  monthSpendMicros: number;
  createdAt: string;
  updatedAt: string;
}

export interface Row {
  id: string;
  account_id: string;
  provider: string;
  name: string;
  model_identifier: string;
  status: string;
  base_url: string | null;
  api_key_ciphertext: string | null;
  gpu_type_id: string | null;
  pod_id: string | null;
  cost_per_hour_usd: number | null;
  healthy: number | null;
  failure_reason: string | null;
  spend_micros: number;
  idle_timeout_s: number | null;
  wake_on_request: number | null;
  max_spend_micros: number | null;
  stop_reason: string | null;
  last_used_at: string | null;
  wake_state: string | null;
  wake_failure: string | null;
  spend_month: string | null;
  month_spend_micros: number | null;
  created_at: string;
  updated_at: string;
}

/** Most (account, model) answers `resolve` keeps (a bound on memory, not on correctness). */
const RESOLVE_CACHE_LIMIT = 10_000;
/** …and most characters across their keys, so the bound holds in bytes too. */
const RESOLVE_CACHE_KEY_CHARS = 1024 * 1024;
/**
 * Longest `model` whose answer is cached. The OpenAI routes refuse longer names anyway; a longer
 * one is looked up but never kept, so no client-chosen string of unbounded size stays in memory.
 */
const RESOLVE_CACHE_MAX_MODEL_CHARS = 256;

/**
 * Reads of the `deployments` read model. `resolve` is on the inference hot path: answers are
 * kept per (account, model) until the projection next changes a row, so a request costs one
 * map lookup; a change (a deployment started, stopped, renamed…) is seen by the next request.
 */
@Injectable()
export class DeploymentsQueries {
  private readonly byAccount: StatementSync;
  private readonly byId: StatementSync;
  private readonly byIdOnly: StatementSync;
  private readonly byModel: StatementSync;
  private readonly resolved = new Map<string, DeploymentView | undefined>();
  private resolvedKeyChars = 0;
  private resolvedAt = -1;

  constructor(
    @Inject(ReadModelDatabase) readModels: ReadModelDatabase,
    @Inject(ProjectionRunner) private readonly runner: ProjectionRunner,
  ) {
    const db = readModels.db;
    // Idempotent; the module may build this service before it registers the projection.
    deploymentsProjection.setup(db);
    this.byAccount = db.prepare(
      "SELECT * FROM deployments WHERE account_id = ? AND status <> 'terminated' ORDER BY created_at, id",
    );
    this.byId = db.prepare("SELECT * FROM deployments WHERE account_id = ? AND id = ?");
    this.byIdOnly = db.prepare("SELECT * FROM deployments WHERE id = ?");
    // Running first, then the most recently changed: a stopped twin never shadows a live one.
    this.byModel = db.prepare(
      `SELECT * FROM deployments WHERE account_id = ? AND (name = ? OR model_identifier = ?)
       AND status <> 'terminated'
       ORDER BY (status = 'running') DESC, (name = ?) DESC, updated_at DESC LIMIT 1`,
    );
  }

  /** Waits (bounded) until the read model includes a write at `position`. */
  waitFor(position: bigint): Promise<void> {
    return this.runner.waitFor(position, [DEPLOYMENTS_PROJECTION]);
  }

  /** Waits (bounded) until the read model holds every deployment event in the store now. */
  untilCurrent(): Promise<void> {
    return this.runner.untilCurrent([DEPLOYMENTS_PROJECTION]);
  }

  listForAccount(accountId: string): DeploymentView[] {
    return (this.byAccount.all(accountId) as unknown as Row[]).map(toView);
  }

  get(accountId: string, id: string): DeploymentView | undefined {
    const row = this.byId.get(accountId, id) as unknown as Row | undefined;
    return row ? toView(row) : undefined;
  }

  /** A deployment by id whatever its account (the waker's hot-path check; never for a response). */
  getAnyAccount(id: string): DeploymentView | undefined {
    const row = this.byIdOnly.get(id) as unknown as Row | undefined;
    return row ? toView(row) : undefined;
  }

  /** The account's deployment a client means by `model` (name or model identifier), running ones first. */
  resolve(accountId: string, model: string): DeploymentView | undefined {
    const changes = this.runner.changeCount(DEPLOYMENTS_PROJECTION);
    if (
      changes !== this.resolvedAt || this.resolved.size >= RESOLVE_CACHE_LIMIT ||
      this.resolvedKeyChars >= RESOLVE_CACHE_KEY_CHARS
    ) {
      this.resolved.clear();
      this.resolvedKeyChars = 0;
      this.resolvedAt = changes;
    }
    const cacheable = model.length <= RESOLVE_CACHE_MAX_MODEL_CHARS;
    const key = cacheable ? `${accountId}\n${model}` : "";
    if (cacheable && this.resolved.has(key)) return this.resolved.get(key);
    const row = this.byModel.get(accountId, model, model, model) as unknown as Row | undefined;
    const view = row ? Object.freeze(toView(row)) : undefined;
    // Misses are cached too (every catalogue-model request is one), under a bounded key.
    if (cacheable) {
      this.resolved.set(key, view);
      this.resolvedKeyChars += key.length;
    }
    return view;
  }

  /** Whether a deployment of the account that is not terminated goes by `name` (read model). */
  hasName(accountId: string, name: string): boolean {
    return this.resolve(accountId, name)?.name === name;
  }
}

export function toView(row: Row): DeploymentView {
  return {
    id: row.id,
    accountId: row.account_id,
    provider: row.provider as DeploymentProvider,
    name: row.name,
    modelIdentifier: row.model_identifier,
    status: row.status as DeploymentStatus,
    baseUrl: row.base_url ?? undefined,
    apiKeyCiphertext: row.api_key_ciphertext ?? undefined,
    gpuTypeId: row.gpu_type_id ?? undefined,
    podId: row.pod_id ?? undefined,
    costPerHourUsd: row.cost_per_hour_usd ?? undefined,
    healthy: row.healthy === null ? undefined : row.healthy === 1,
    failureReason: row.failure_reason ?? undefined,
    spendMicros: row.spend_micros ?? 0,
    idleTimeoutS: row.idle_timeout_s ?? undefined,
    wakeOnRequest: row.wake_on_request === null || row.wake_on_request === undefined
      ? row.idle_timeout_s !== null && row.idle_timeout_s !== undefined
      : row.wake_on_request === 1,
    maxSpendMicros: row.max_spend_micros ?? undefined,
    stopReason: (row.stop_reason ?? undefined) as PodStopReason | undefined,
    lastUsedAt: row.last_used_at ?? undefined,
    wakeState: (row.wake_state ?? undefined) as DeploymentView["wakeState"],
    wakeFailure: row.wake_failure ?? undefined,
    spendMonth: row.spend_month ?? undefined,
    monthSpendMicros: row.month_spend_micros ?? 0,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
