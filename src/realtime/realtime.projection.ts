import type { DatabaseSync } from "node:sqlite";
import type { DeploymentRequested } from "../deployments/deployment.events.ts";
import type { RecordedEvent } from "../event-store/event-store.port.ts";
import type { Projection } from "../projections/projection.ts";
import type { RealtimeResponseCompleted, RealtimeSessionStarted } from "./realtime.events.ts";

export const REALTIME_CAPABILITIES_PROJECTION = "realtime-capabilities";
export const REALTIME_SESSIONS_PROJECTION = "realtime-sessions";

/**
 * `realtime_deployments`: the deployments that declared `"realtime": true`. Kept here rather
 * than as a column of the deployments read model, which routes every HTTP request and needs
 * nothing about realtime.
 */
export const realtimeCapabilitiesProjection: Projection = {
  name: REALTIME_CAPABILITIES_PROJECTION,
  version: 1,
  filter: { streamPrefixes: ["deployment-"], eventTypes: ["DeploymentRequested"] },
  setup(db: DatabaseSync) {
    db.exec(`CREATE TABLE IF NOT EXISTS realtime_deployments (
      deployment_id TEXT PRIMARY KEY,
      account_id TEXT NOT NULL)`);
  },
  reset(db: DatabaseSync) {
    db.exec("DELETE FROM realtime_deployments");
  },
  apply(event: RecordedEvent, db: DatabaseSync) {
    const data = event.data as DeploymentRequested;
    if (data.realtime !== true) return;
    db.prepare(
      "INSERT OR IGNORE INTO realtime_deployments (deployment_id, account_id) VALUES (?, ?)",
    ).run(data.deploymentId, data.accountId);
  },
};

/**
 * `realtime_sessions`: sessions not yet ended, for the crash sweep, and how many responses of
 * each were recorded. Readers never wait on it (it follows the session hot path); the sweep
 * reads each candidate's stream before deciding anything.
 */
export const realtimeSessionsProjection: Projection = {
  name: REALTIME_SESSIONS_PROJECTION,
  version: 1,
  readersWait: false,
  filter: {
    streamPrefixes: ["realtime-"],
    eventTypes: ["RealtimeSessionStarted", "RealtimeResponseCompleted", "RealtimeSessionEnded"],
  },
  setup(db: DatabaseSync) {
    db.exec(`CREATE TABLE IF NOT EXISTS realtime_sessions (
      session_id TEXT PRIMARY KEY,
      account_id TEXT NOT NULL,
      instance_id TEXT NOT NULL,
      model TEXT NOT NULL,
      started_at TEXT NOT NULL,
      last_activity_at TEXT NOT NULL,
      responses INTEGER NOT NULL DEFAULT 0)`);
    db.exec(
      "CREATE INDEX IF NOT EXISTS realtime_sessions_started ON realtime_sessions (started_at)",
    );
  },
  reset(db: DatabaseSync) {
    db.exec("DELETE FROM realtime_sessions");
  },
  apply(event: RecordedEvent, db: DatabaseSync) {
    if (event.type === "RealtimeSessionStarted") {
      const data = event.data as RealtimeSessionStarted;
      db.prepare(
        `INSERT OR IGNORE INTO realtime_sessions
         (session_id, account_id, instance_id, model, started_at, last_activity_at)
         VALUES (?, ?, ?, ?, ?, ?)`,
      ).run(
        data.sessionId,
        data.accountId,
        data.instanceId,
        data.model,
        data.startedAt,
        data.startedAt,
      );
      return;
    }
    const sessionId = (event.data as { sessionId: string }).sessionId;
    if (event.type === "RealtimeResponseCompleted") {
      const data = event.data as RealtimeResponseCompleted;
      db.prepare(
        `UPDATE realtime_sessions SET responses = responses + 1, last_activity_at = ?
         WHERE session_id = ?`,
      ).run(data.completedAt, sessionId);
      return;
    }
    // Ended sessions leave: the table holds only what the sweep may have to close.
    db.prepare("DELETE FROM realtime_sessions WHERE session_id = ?").run(sessionId);
  },
};
