import { DatabaseSync } from "node:sqlite";
import { dirname, join } from "node:path";
import { preparePrivateDirectory, restrictDatabaseToOwner } from "../common/private-files.ts";

/** Where an instance keeps its read models; the service and the CLI both open this file. */
export function readModelDatabasePath(dataDir: string, instanceId: string): string {
  return join(dataDir, `read-models.${instanceId}.sqlite`);
}

/**
 * The local read database: every projection's tables and the checkpoints, in one SQLite file
 * per instance (read models are derived data, so each instance keeps its own copy).
 */
export class ReadModelDatabase {
  readonly db: DatabaseSync;

  constructor(readonly path: string) {
    // Owner-only, like the event store: the read models hold emails and credential hashes.
    if (path !== ":memory:") {
      preparePrivateDirectory(dirname(path));
      restrictDatabaseToOwner(path);
    }
    this.db = new DatabaseSync(path);
    this.db.exec("PRAGMA journal_mode = WAL");
    // Read models can be rebuilt from the event store, so NORMAL (no fsync per commit) is enough.
    this.db.exec("PRAGMA synchronous = NORMAL");
    this.db.exec("PRAGMA busy_timeout = 5000");
  }

  /** Runs `work` in one transaction (nested calls join the outer one). */
  transaction<T>(work: () => T): T {
    if (this.db.isTransaction) return work();
    this.db.exec("BEGIN");
    try {
      const result = work();
      this.db.exec("COMMIT");
      return result;
    } catch (error) {
      this.db.exec("ROLLBACK");
      throw error;
    }
  }

  close(): void {
    if (this.db.isOpen) this.db.close();
  }
}
