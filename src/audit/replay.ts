import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import type {
  EventStore,
  RecordedEvent,
  ScanAllOptions,
  Subscription,
} from "../event-store/event-store.port.ts";
import { scanAll } from "../event-store/scan-all.ts";
import { ProjectionRunner } from "../projections/projection-runner.ts";
import { ReadModelDatabase } from "../projections/read-model.database.ts";
import { allProjections } from "./all-projections.ts";

/** Page cache of a replay being built: its indexes are written all over, account by account. */
const REPLAY_CACHE_KIB = 256 * 1024;

/**
 * Events per replay transaction. Each commit writes every index page the batch dirtied, and
 * indexes keyed by account or id are dirtied all over: 20,000 replayed 1,000,000 events in a
 * median 28.8 s against 32.6 s with 5,000 (alternating runs, same session).
 */
const REPLAY_BATCH_EVENTS = 20_000;

/** Replays live under DATA_DIR/replays/<name>.sqlite; names are safe file names only. */
export const REPLAY_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$/;

export function replaysDirectory(dataDir: string): string {
  return join(dataDir, "replays");
}

/** The file of a replay, or undefined for a name that is not a plain safe name. */
export function replayPath(dataDir: string, name: string): string | undefined {
  return REPLAY_NAME.test(name) ? join(replaysDirectory(dataDir), `${name}.sqlite`) : undefined;
}

/** Where the replay stops: after a position, or after the last event recorded by an instant. */
export type ReplayBound = { position: bigint } | { time: Date };

export interface ReplayResult {
  name: string;
  path: string;
  /** The last event applied (0 when the bound is before everything). */
  lastPosition: bigint;
  /** When that event was recorded (null: none). */
  lastRecordedAt: string | null;
  events: number;
  projections: string[];
}

/** A default name for a bound: `pos-1234` or `at-20260301T120000Z`. */
export function defaultReplayName(bound: ReplayBound): string {
  if ("position" in bound) return `pos-${bound.position}`;
  return `at-${bound.time.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z")}`;
}

/**
 * Builds every read model as it stood at `bound` into its own SQLite file, with the service's
 * own projection classes driven by the ProjectionRunner over a view of the store that ends at
 * the bound. A time bound is the recording time (`created_at`): the read models exactly as a
 * service would have had them, once caught up, at that instant. The live read models and the
 * event store are never written. An existing replay of the same name is replaced.
 */
export async function replayTo(
  store: EventStore,
  dataDir: string,
  bound: ReplayBound,
  options: { name?: string; onProgress?: (applied: number) => void } = {},
): Promise<ReplayResult> {
  const name = options.name ?? defaultReplayName(bound);
  const path = replayPath(dataDir, name);
  if (!path) throw new RangeError(`not a replay name (letters, digits, - and _): ${name}`);
  for (const suffix of ["", "-wal", "-shm"]) {
    if (existsSync(path + suffix)) rmSync(path + suffix);
  }
  const view = new BoundedStore(store, bound, options.onProgress);
  const readModels = new ReadModelDatabase(path);
  // A new file that a failed run simply builds again: its pages stay in memory while it is
  // written, with no write-ahead log to copy and no fsync (the replay of 200,000 events took half
  // the time). Its last commits, at the end, sync it to disk whole.
  readModels.db.exec(`PRAGMA cache_size = -${REPLAY_CACHE_KIB}`);
  readModels.db.exec("PRAGMA journal_mode = MEMORY");
  readModels.db.exec("PRAGMA synchronous = OFF");
  try {
    const projections = allProjections();
    const runner = new ProjectionRunner(view, readModels, projections, {
      batchSize: REPLAY_BATCH_EVENTS,
    });
    await runner.catchUpOnce();
    await runner.stop();
    const last = view.last;
    readModels.db.exec("PRAGMA synchronous = FULL");
    readModels.db.exec(
      "CREATE TABLE IF NOT EXISTS replay_info (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    );
    const put = readModels.db.prepare("INSERT OR REPLACE INTO replay_info VALUES (?, ?)");
    put.run("bound", "position" in bound ? String(bound.position) : bound.time.toISOString());
    put.run("last_position", String(last?.position ?? 0n));
    put.run("last_recorded_at", last?.createdAt.toISOString() ?? "");
    put.run("events", String(view.events));
    put.run("built_at", new Date().toISOString());
    // One self-contained file: readers open it read-only without a journal beside it.
    readModels.db.exec("PRAGMA journal_mode = DELETE");
    return {
      name,
      path,
      lastPosition: last?.position ?? 0n,
      lastRecordedAt: last?.createdAt.toISOString() ?? null,
      events: view.events,
      projections: projections.map((projection) => projection.name),
    };
  } finally {
    readModels.close();
  }
}

/**
 * The store as it stood at the bound: `$all` ends at it (position order is append order, so a
 * time bound ends at the first event recorded after the instant). Read-only: the runner only
 * scans $all here (catchUpOnce), never subscribes or appends.
 */
class BoundedStore implements EventStore {
  last?: RecordedEvent;
  events = 0;

  constructor(
    private readonly inner: EventStore,
    private readonly bound: ReplayBound,
    private readonly onProgress?: (applied: number) => void,
  ) {}

  async *scanAll(options: ScanAllOptions = {}): AsyncGenerator<RecordedEvent[]> {
    const bound = this.bound;
    const to = "position" in bound && (options.to === undefined || bound.position < options.to)
      ? bound.position
      : options.to;
    for await (const page of scanAll(this.inner, { ...options, to })) {
      let kept = page;
      if ("time" in bound) {
        const end = bound.time.getTime();
        const past = page.findIndex((event) => event.createdAt.getTime() > end);
        if (past >= 0) kept = page.slice(0, past);
      }
      if (kept.length > 0) {
        this.last = kept[kept.length - 1];
        this.events += kept.length;
        this.onProgress?.(kept.length);
        yield kept;
      }
      if (kept !== page) return;
    }
  }

  async headPosition(): Promise<bigint> {
    return this.last?.position ?? 0n;
  }

  append(): never {
    throw new Error("a replay never appends");
  }

  readAll(): never {
    throw new Error("a replay scans $all only");
  }

  readStream(): never {
    throw new Error("a replay scans $all only");
  }

  subscribeToAll(): Subscription {
    throw new Error("a replay does not subscribe");
  }

  ping(): Promise<void> {
    return this.inner.ping();
  }

  async close(): Promise<void> {}
}
