import type { DatabaseSync } from "node:sqlite";
import type { RecordedEvent } from "../event-store/event-store.port.ts";
import type { Projection } from "../projections/projection.ts";
import {
  DEPLOYMENT_EVENT_TYPES,
  type DeploymentEventMap,
  type DeploymentStatus,
} from "./deployment.events.ts";

export const DEPLOYMENTS_PROJECTION = "deployments";

/**
 * `deployments`: one row per deployment, folded from the `deployment-<id>` streams. The
 * inference router reads it on every request, so it keeps exactly what routing needs.
 * External upstreams are ready as soon as they are registered; pods become `running` with
 * PodStarted (baseUrl through the pod proxy) and leave it with PodStopped/PodTerminated. A
 * removed external upstream reads as `terminated` (hidden, not routed) with its key dropped.
 * `spend_micros` sums the deployment's metered minutes (version 3 added it: rebuilt once).
 * Version 4 added sleep and wake: the settings, `stop_reason`, `last_used_at` (DeploymentUsed,
 * for every instance's idle sweep), the wake's state, this month's spend, and PodReplaced.
 */
const ADDED_COLUMNS: ReadonlyArray<[string, string]> = [
  ["spend_micros", "INTEGER NOT NULL DEFAULT 0"],
  ["idle_timeout_s", "INTEGER"],
  ["wake_on_request", "INTEGER"],
  ["max_spend_micros", "INTEGER"],
  ["stop_reason", "TEXT"],
  ["last_used_at", "TEXT"],
  ["wake_state", "TEXT"],
  ["wake_failure", "TEXT"],
  ["spend_month", "TEXT"],
  ["month_spend_micros", "INTEGER NOT NULL DEFAULT 0"],
];

export const deploymentsProjection: Projection = {
  name: DEPLOYMENTS_PROJECTION,
  version: 4,
  filter: { streamPrefixes: ["deployment-"], eventTypes: [...DEPLOYMENT_EVENT_TYPES] },
  setup(db: DatabaseSync) {
    db.exec(`CREATE TABLE IF NOT EXISTS deployments (
      id TEXT PRIMARY KEY,
      account_id TEXT NOT NULL,
      provider TEXT NOT NULL,
      name TEXT NOT NULL,
      model_identifier TEXT NOT NULL,
      status TEXT NOT NULL,
      base_url TEXT,
      api_key_ciphertext TEXT,
      gpu_type_id TEXT,
      pod_id TEXT,
      cost_per_hour_usd REAL,
      healthy INTEGER,
      failure_reason TEXT,
      spend_micros INTEGER NOT NULL DEFAULT 0,
      created_at TEXT NOT NULL,
      updated_at TEXT NOT NULL)`);
    // Read-model files from older versions lack columns; the version bump then rebuilds the rows.
    const columns = db.prepare("PRAGMA table_info(deployments)").all() as Array<{ name: string }>;
    for (const [column, type] of ADDED_COLUMNS) {
      if (!columns.some((c) => c.name === column)) {
        db.exec(`ALTER TABLE deployments ADD COLUMN ${column} ${type}`);
      }
    }
    db.exec("CREATE INDEX IF NOT EXISTS deployments_account ON deployments (account_id, name)");
  },
  reset(db: DatabaseSync) {
    db.exec("DELETE FROM deployments");
  },
  apply(event: RecordedEvent, db: DatabaseSync) {
    const at = event.createdAt.toISOString();
    const setStatus = (id: string, status: DeploymentStatus, updatedAt: string) =>
      db.prepare("UPDATE deployments SET status = ?, updated_at = ? WHERE id = ?").run(
        status,
        updatedAt,
        id,
      );
    switch (event.type as keyof DeploymentEventMap) {
      case "DeploymentRequested": {
        const data = event.data as DeploymentEventMap["DeploymentRequested"];
        const status: DeploymentStatus = data.provider === "external" ? "running" : "pending";
        const sleep = data.sleep ?? {};
        db.prepare(
          `INSERT OR IGNORE INTO deployments (id, account_id, provider, name, model_identifier, status,
           base_url, api_key_ciphertext, gpu_type_id, created_at, updated_at, idle_timeout_s,
           wake_on_request, max_spend_micros)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        ).run(
          data.deploymentId,
          data.accountId,
          data.provider,
          data.name,
          data.modelIdentifier,
          status,
          data.baseUrl ?? null,
          data.apiKeyCiphertext ?? null,
          data.gpuTypeId ?? null,
          data.requestedAt,
          data.requestedAt,
          sleep.idleTimeoutS ?? null,
          sleep.wakeOnRequest === undefined ? null : sleep.wakeOnRequest ? 1 : 0,
          sleep.maxSpendMicros ?? null,
        );
        return;
      }
      case "DeploymentSettingsChanged": {
        const data = event.data as DeploymentEventMap["DeploymentSettingsChanged"];
        if (data.idleTimeoutS !== undefined) {
          db.prepare("UPDATE deployments SET idle_timeout_s = ? WHERE id = ?")
            .run(data.idleTimeoutS, data.deploymentId);
        }
        if (data.wakeOnRequest !== undefined) {
          db.prepare("UPDATE deployments SET wake_on_request = ? WHERE id = ?")
            .run(data.wakeOnRequest ? 1 : 0, data.deploymentId);
        }
        if (data.maxSpendMicros !== undefined) {
          db.prepare("UPDATE deployments SET max_spend_micros = ? WHERE id = ?")
            .run(data.maxSpendMicros, data.deploymentId);
        }
        db.prepare("UPDATE deployments SET updated_at = ? WHERE id = ?")
          .run(data.changedAt, data.deploymentId);
        return;
      }
      case "DeploymentUsed": {
        // Not updated_at: use is not a change of the deployment (metering's "recent" list).
        const data = event.data as DeploymentEventMap["DeploymentUsed"];
        db.prepare(
          `UPDATE deployments SET last_used_at = ? WHERE id = ?
           AND (last_used_at IS NULL OR last_used_at < ?)`,
        ).run(data.lastUsedAt, data.deploymentId, data.lastUsedAt);
        return;
      }
      case "DeploymentWakeRequested": {
        const data = event.data as DeploymentEventMap["DeploymentWakeRequested"];
        db.prepare(
          "UPDATE deployments SET wake_state = 'pending', wake_failure = NULL WHERE id = ?",
        )
          .run(data.deploymentId);
        return;
      }
      case "DeploymentWoken": {
        const data = event.data as DeploymentEventMap["DeploymentWoken"];
        db.prepare("UPDATE deployments SET wake_state = 'woken', last_used_at = ? WHERE id = ?")
          .run(data.wokenAt, data.deploymentId);
        return;
      }
      case "DeploymentWakeFailed": {
        const data = event.data as DeploymentEventMap["DeploymentWakeFailed"];
        db.prepare("UPDATE deployments SET wake_state = 'failed', wake_failure = ? WHERE id = ?")
          .run(data.reason, data.deploymentId);
        return;
      }
      case "PodReplaced": {
        const data = event.data as DeploymentEventMap["PodReplaced"];
        db.prepare(
          `UPDATE deployments SET status = 'provisioning', pod_id = ?, gpu_type_id = ?,
           cost_per_hour_usd = ?, base_url = NULL, healthy = NULL, updated_at = ? WHERE id = ?`,
        ).run(
          data.newPodId,
          data.gpuTypeId,
          data.costPerHourUsd,
          data.createdAt,
          data.deploymentId,
        );
        return;
      }
      case "PodCreated": {
        const data = event.data as DeploymentEventMap["PodCreated"];
        db.prepare(
          `UPDATE deployments SET status = 'provisioning', pod_id = ?, gpu_type_id = ?,
           cost_per_hour_usd = ?, updated_at = ? WHERE id = ?`,
        ).run(data.podId, data.gpuTypeId, data.costPerHourUsd, data.createdAt, data.deploymentId);
        return;
      }
      case "PodStarted": {
        const data = event.data as DeploymentEventMap["PodStarted"];
        db.prepare(
          `UPDATE deployments SET status = 'running', base_url = ?, updated_at = ?,
           last_used_at = MAX(COALESCE(last_used_at, ''), ?) WHERE id = ?`,
        ).run(data.baseUrl, data.startedAt, data.startedAt, data.deploymentId);
        return;
      }
      case "PodResumed": {
        // A restart: provisioning again, at the price RunPod reports now.
        const data = event.data as DeploymentEventMap["PodResumed"];
        db.prepare(
          `UPDATE deployments SET status = 'provisioning', cost_per_hour_usd = ?, updated_at = ?
           WHERE id = ?`,
        ).run(data.costPerHourUsd, data.resumedAt, data.deploymentId);
        return;
      }
      case "ModelPulled": {
        const data = event.data as DeploymentEventMap["ModelPulled"];
        db.prepare("UPDATE deployments SET model_identifier = ?, updated_at = ? WHERE id = ?")
          .run(data.modelIdentifier, data.pulledAt, data.deploymentId);
        return;
      }
      case "PodStopped": {
        const data = event.data as DeploymentEventMap["PodStopped"];
        setStatus(data.deploymentId, "stopped", data.stoppedAt);
        db.prepare("UPDATE deployments SET stop_reason = ? WHERE id = ?")
          .run(data.reason, data.deploymentId);
        return;
      }
      case "PodTerminated": {
        const data = event.data as DeploymentEventMap["PodTerminated"];
        setStatus(data.deploymentId, "terminated", data.terminatedAt);
        return;
      }
      case "DeploymentFailed": {
        const data = event.data as DeploymentEventMap["DeploymentFailed"];
        db.prepare(
          "UPDATE deployments SET status = 'failed', failure_reason = ?, updated_at = ? WHERE id = ?",
        ).run(data.reason, data.failedAt, data.deploymentId);
        return;
      }
      case "DeploymentHealthChanged": {
        const data = event.data as DeploymentEventMap["DeploymentHealthChanged"];
        // Same rule as the decider: a healthy pod that was provisioning (or restarting) is pulling.
        db.prepare(
          `UPDATE deployments SET healthy = ?, updated_at = ?,
           status = CASE WHEN ? = 1 AND status IN ('provisioning', 'stopped') THEN 'pulling' ELSE status END
           WHERE id = ?`,
        ).run(data.healthy ? 1 : 0, data.checkedAt ?? at, data.healthy ? 1 : 0, data.deploymentId);
        return;
      }
      case "DeploymentUsageMetered": {
        const data = event.data as DeploymentEventMap["DeploymentUsageMetered"];
        // Not updated_at: a metered minute changes nothing routing or the lists order by.
        db.prepare("UPDATE deployments SET spend_micros = spend_micros + ? WHERE id = ?")
          .run(data.amountMicros, data.deploymentId);
        // This calendar month's (UTC) spend, for max_spend_usd; a new month starts at zero.
        db.prepare(
          `UPDATE deployments SET month_spend_micros = CASE WHEN spend_month = ?
           THEN month_spend_micros + ? ELSE ? END, spend_month = ? WHERE id = ?`,
        ).run(
          data.minute.slice(0, 7),
          data.amountMicros,
          data.amountMicros,
          data.minute.slice(0, 7),
          data.deploymentId,
        );
        return;
      }
      case "ExternalUpstreamRemoved": {
        const data = event.data as DeploymentEventMap["ExternalUpstreamRemoved"];
        db.prepare(
          `UPDATE deployments SET status = 'terminated', api_key_ciphertext = NULL, updated_at = ?
           WHERE id = ?`,
        ).run(data.removedAt, data.deploymentId);
        return;
      }
      case "ExternalUpstreamKeyReplaced": {
        const data = event.data as DeploymentEventMap["ExternalUpstreamKeyReplaced"];
        db.prepare("UPDATE deployments SET api_key_ciphertext = ?, updated_at = ? WHERE id = ?")
          .run(data.apiKeyCiphertext, data.replacedAt, data.deploymentId);
        return;
      }
      default:
        return;
    }
  },
};
