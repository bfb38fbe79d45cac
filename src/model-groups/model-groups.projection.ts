import type { DatabaseSync } from "node:sqlite";
import type { RecordedEvent } from "../event-store/event-store.port.ts";
import type { Projection } from "../projections/projection.ts";
import { MODEL_GROUP_EVENT_TYPES, type ModelGroupEventMap } from "./model-group.events.ts";

export const MODEL_GROUPS_PROJECTION = "model_groups";

/**
 * `model_groups`: one row per live group, folded from the `modelgroup-<id>` streams. A deleted
 * group's row is removed (its name is free again). The members are kept as the JSON the event
 * carried: they are only ever read whole.
 */
export const modelGroupsProjection: Projection = {
  name: MODEL_GROUPS_PROJECTION,
  version: 1,
  filter: { streamPrefixes: ["modelgroup-"], eventTypes: [...MODEL_GROUP_EVENT_TYPES] },
  setup(db: DatabaseSync) {
    db.exec(`CREATE TABLE IF NOT EXISTS model_groups (
      id TEXT PRIMARY KEY,
      account_id TEXT NOT NULL,
      name TEXT NOT NULL,
      strategy TEXT NOT NULL,
      members TEXT NOT NULL,
      created_at TEXT NOT NULL)`);
    db.exec("CREATE INDEX IF NOT EXISTS model_groups_account ON model_groups (account_id, name)");
  },
  reset(db: DatabaseSync) {
    db.exec("DELETE FROM model_groups");
  },
  apply(event: RecordedEvent, db: DatabaseSync) {
    switch (event.type as keyof ModelGroupEventMap) {
      case "ModelGroupCreated": {
        const data = event.data as ModelGroupEventMap["ModelGroupCreated"];
        db.prepare(
          `INSERT OR IGNORE INTO model_groups (id, account_id, name, strategy, members, created_at)
           VALUES (?, ?, ?, ?, ?, ?)`,
        ).run(
          data.groupId,
          data.accountId,
          data.name,
          data.strategy,
          JSON.stringify(data.members),
          data.createdAt,
        );
        return;
      }
      case "ModelGroupDeleted": {
        const data = event.data as ModelGroupEventMap["ModelGroupDeleted"];
        db.prepare("DELETE FROM model_groups WHERE id = ?").run(data.groupId);
        return;
      }
    }
  },
};
