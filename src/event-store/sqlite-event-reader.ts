import type { DatabaseSync, StatementSync } from "node:sqlite";
import type {
  EventFilter,
  EventMetadata,
  ReadStreamOptions,
  RecordedEvent,
} from "./event-store.port.ts";

interface EventRow {
  position: bigint;
  id: string;
  stream: string;
  revision: bigint;
  type: string;
  data: string;
  metadata: string;
  created_at: bigint;
}

const EVENT_COLUMNS = "position, id, stream, revision, type, data, metadata, created_at";

/** The embedded store's read side: synchronous queries on the store's own connection. */
export class SqliteEventReader {
  private readonly statementCache = new Map<string, StatementSync>();
  private readonly selectHead: StatementSync;

  constructor(private readonly db: DatabaseSync) {
    this.selectHead = db.prepare("SELECT coalesce(max(position), 0) AS head FROM events");
    this.selectHead.setReadBigInts(true);
  }

  head(): bigint {
    return (this.selectHead.get() as { head: bigint }).head;
  }

  readStream(stream: string, options: ReadStreamOptions): RecordedEvent[] {
    const backwards = options.direction === "backwards";
    const limit = options.maxCount ?? -1;
    if (backwards) {
      const from = options.from ?? BigInt(Number.MAX_SAFE_INTEGER);
      return this.statement(
        `SELECT ${EVENT_COLUMNS} FROM events WHERE stream = ? AND revision <= ? ` +
          "ORDER BY revision DESC LIMIT ?",
      ).all(stream, from, limit).map((row) => toRecordedEvent(row as unknown as EventRow));
    }
    return this.statement(
      `SELECT ${EVENT_COLUMNS} FROM events WHERE stream = ? AND revision >= ? ` +
        "ORDER BY revision ASC LIMIT ?",
    ).all(stream, options.from ?? 0n, limit).map((row) =>
      toRecordedEvent(row as unknown as EventRow)
    );
  }

  /** Events after `from` (exclusive), oldest first; maxCount -1 for no limit. */
  readAll(from: bigint, maxCount: number, filter?: EventFilter): RecordedEvent[] {
    const conditions = ["position > ?"];
    const parameters: (string | bigint | number)[] = [from];
    const prefixes = filter?.streamPrefixes;
    if (prefixes && prefixes.length > 0) {
      conditions.push(`(${prefixes.map(() => "substr(stream, 1, ?) = ?").join(" OR ")})`);
      for (const prefix of prefixes) parameters.push(prefix.length, prefix);
    }
    const types = filter?.eventTypes;
    if (types && types.length > 0) {
      conditions.push(`type IN (${types.map(() => "?").join(", ")})`);
      parameters.push(...types);
    }
    parameters.push(maxCount);
    const sql = `SELECT ${EVENT_COLUMNS} FROM events WHERE ${
      conditions.join(" AND ")
    } ORDER BY position ASC LIMIT ?`;
    return this.statement(sql).all(...parameters).map((row) =>
      toRecordedEvent(row as unknown as EventRow)
    );
  }

  private statement(sql: string): StatementSync {
    let statement = this.statementCache.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      statement.setReadBigInts(true);
      if (this.statementCache.size > 200) this.statementCache.clear();
      this.statementCache.set(sql, statement);
    }
    return statement;
  }
}

function toRecordedEvent(row: EventRow): RecordedEvent {
  let data: unknown;
  let metadata: EventMetadata | undefined;
  return {
    id: row.id,
    type: row.type,
    // Parsed on first read: a subscriber that passes over an event by its type (the projection
    // runner does, for every inference event) never pays for its JSON.
    get data() {
      return data ??= JSON.parse(row.data);
    },
    get metadata() {
      return metadata ??= JSON.parse(row.metadata) as EventMetadata;
    },
    stream: row.stream,
    revision: row.revision,
    position: row.position,
    createdAt: new Date(Number(row.created_at)),
  };
}
