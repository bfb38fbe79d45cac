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
/** A lean scan's columns (scanPage): the rest are fetched per event when read. */
const LEAN_SCAN_COLUMNS = "position, id, stream, type, data";

/** The embedded store's read side: synchronous queries on the store's own connection. */
export class SqliteEventReader {
  private readonly statementCache = new Map<string, StatementSync>();
  private readonly scanStatements = new Map<string, StatementSync>();
  private readonly selectHead: StatementSync;
  private selectLeftOut: StatementSync | undefined;

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
    const { where, parameters } = allEventsWhere(filter);
    const sql = `SELECT ${EVENT_COLUMNS} FROM events WHERE position > ? AND ${where} ` +
      "ORDER BY position ASC LIMIT ?";
    return this.statement(sql).all(from, ...parameters, maxCount).map((row) =>
      toRecordedEvent(row as unknown as EventRow)
    );
  }

  /**
   * A page of a bulk scan: events with `from` < position <= `to`, oldest first, as ScannedEvents.
   * Rows come back as arrays of plain numbers (no per-row object, no BigInt per column); the
   * positions of any real store are safe integers, and a larger one makes SQLite's read throw
   * rather than round. `lean` leaves revision, metadata and created_at out of the page: each
   * column costs ~0.1 µs per row to hand to JavaScript, and a caller that reads them for few
   * events (verify) has them fetched by position on first read instead.
   */
  scanPage(
    from: number,
    to: number,
    maxCount: number,
    filter?: EventFilter,
    lean = false,
  ): ScannedEvent[] {
    const { where, parameters } = allEventsWhere(filter);
    const sql = `SELECT ${lean ? LEAN_SCAN_COLUMNS : EVENT_COLUMNS} FROM events ` +
      `WHERE position > ? AND position <= ? AND ${where} ORDER BY position ASC LIMIT ?`;
    let statement = this.scanStatements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      statement.setReturnArrays(true);
      if (this.scanStatements.size > 50) this.scanStatements.clear();
      this.scanStatements.set(sql, statement);
    }
    const rows = statement.all(from, to, ...parameters, maxCount) as unknown as ScanRow[];
    const page = new Array<ScannedEvent>(rows.length);
    const source = lean ? this : undefined;
    for (let index = 0; index < rows.length; index++) {
      page[index] = new ScannedEvent(rows[index], source);
    }
    return page;
  }

  /** What a lean scan left out of one event's row (see scanPage). */
  leftOutOf(position: number): LeftOutColumns {
    this.selectLeftOut ??= this.db.prepare(
      "SELECT revision, metadata, created_at FROM events WHERE position = ?",
    );
    this.selectLeftOut.setReturnArrays(true);
    const row = this.selectLeftOut.get(position) as unknown as LeftOutColumns | undefined;
    if (!row) throw new Error(`event at position ${position} is no longer in the store`);
    return row;
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

/** The WHERE condition of an EventFilter (stream prefixes AND types), "1" when it has none. */
function allEventsWhere(filter?: EventFilter): { where: string; parameters: (string | number)[] } {
  const conditions: string[] = [];
  const parameters: (string | number)[] = [];
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
  return { where: conditions.length > 0 ? conditions.join(" AND ") : "1", parameters };
}

/** A row of EVENT_COLUMNS, or of LEAN_SCAN_COLUMNS, as an array, integers as numbers. */
type ScanRow =
  | [number, string, string, number, string, string, string, number]
  | [number, string, string, string, string];

/** The columns a lean scan leaves out: revision, metadata, created_at. */
type LeftOutColumns = [number, string, number];

/**
 * An event of a bulk scan (SqliteEventStore.scanAll): one small object per row, its data and
 * metadata parsed and its Date made only when first read, since a whole-history pass skips most
 * of them for most events. Of a lean scan, revision, metadata and createdAt are read from the
 * store on first access to any of them. Read-only; data, metadata, revision and createdAt are
 * accessors on the class, so a spread or a deep-equality test would not see them.
 */
export class ScannedEvent implements RecordedEvent {
  readonly position: bigint;
  readonly id: string;
  readonly stream: string;
  readonly type: string;
  readonly #dataJson: string;
  readonly #source: SqliteEventReader | undefined;
  #revision: number | undefined;
  #metadataJson: string | undefined;
  #createdAtMs: number | undefined;
  #data: unknown;
  #metadata: EventMetadata | undefined;
  #createdAt: Date | undefined;

  constructor(row: ScanRow, source: SqliteEventReader | undefined) {
    this.position = BigInt(row[0]);
    this.id = row[1];
    this.stream = row[2];
    if (row.length === 5) {
      this.type = row[3];
      this.#dataJson = row[4];
      this.#source = source;
    } else {
      this.#revision = row[3];
      this.type = row[4];
      this.#dataJson = row[5];
      this.#metadataJson = row[6];
      this.#createdAtMs = row[7];
    }
  }

  get revision(): bigint {
    return BigInt(this.#revision ?? this.#leftOut()[0]);
  }

  get data(): any {
    return this.#data ??= JSON.parse(this.#dataJson);
  }

  get metadata(): EventMetadata {
    return this.#metadata ??= JSON.parse(
      this.#metadataJson ?? this.#leftOut()[1],
    ) as EventMetadata;
  }

  get createdAt(): Date {
    return this.#createdAt ??= new Date(this.#createdAtMs ?? this.#leftOut()[2]);
  }

  #leftOut(): LeftOutColumns {
    const row = this.#source!.leftOutOf(Number(this.position));
    [this.#revision, this.#metadataJson, this.#createdAtMs] = row;
    return row;
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
