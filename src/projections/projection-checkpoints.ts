import type { DatabaseSync, StatementSync } from "node:sqlite";
import type { Projection, ProjectionState } from "./projection.ts";

/** One projection's stored progress: the version it was built with and how far it got. */
export interface StoredCheckpoint {
  version: number;
  position: bigint;
}

const CHECKPOINT_TABLE = `CREATE TABLE IF NOT EXISTS projection_checkpoints (
  name TEXT PRIMARY KEY, version INTEGER NOT NULL, position INTEGER NOT NULL,
  state TEXT NOT NULL, error TEXT)`;

/**
 * The `projection_checkpoints` table of the read-model database. Saves join the caller's
 * transaction, so a checkpoint always moves together with the rows it covers.
 */
export class ProjectionCheckpoints {
  private readonly loadStatement: StatementSync;
  private readonly saveStatement: StatementSync;

  constructor(db: DatabaseSync) {
    db.exec(CHECKPOINT_TABLE);
    this.loadStatement = db.prepare(
      "SELECT version, position FROM projection_checkpoints WHERE name = ?",
    );
    this.saveStatement = db.prepare(
      `INSERT INTO projection_checkpoints (name, version, position, state, error) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT(name) DO UPDATE SET version = excluded.version, position = excluded.position,
       state = excluded.state, error = excluded.error`,
    );
  }

  load(name: string): StoredCheckpoint | undefined {
    const row = this.loadStatement.get(name) as
      | { version: number; position: number | bigint }
      | undefined;
    return row && { version: row.version, position: BigInt(row.position) };
  }

  save(
    projection: Projection,
    position: bigint,
    state: ProjectionState,
    error: string | null,
  ): void {
    this.saveStatement.run(projection.name, projection.version, position, state, error);
  }
}

/** Every stored checkpoint row, by name; reads a database opened read-only too (the CLI). */
export function listCheckpoints(db: DatabaseSync): Record<string, unknown>[] {
  return db.prepare("SELECT * FROM projection_checkpoints ORDER BY name").all();
}

/** The stored position of one projection, if it has a row; works read-only (the CLI). */
export function storedPositionOf(db: DatabaseSync, name: string): bigint | undefined {
  const row = db.prepare("SELECT position FROM projection_checkpoints WHERE name = ?").get(name) as
    | { position: number | bigint }
    | undefined;
  return row ? BigInt(row.position) : undefined;
}
