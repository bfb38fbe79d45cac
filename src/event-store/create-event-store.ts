import { join } from "node:path";
import { preparePrivateDirectory, restrictDatabaseToOwner } from "../common/private-files.ts";
import { EsdbEventStore } from "./esdb-event-store.ts";
import { type EventSchema, EventSchemas } from "./event-schemas.ts";
import type { EventStore } from "./event-store.port.ts";
import { SqliteEventStore } from "./sqlite-event-store.ts";
import { UpcastingEventStore } from "./upcasting-event-store.ts";

export interface EventStoreConfig {
  /** Where the embedded store keeps `events.sqlite`; created if missing. */
  dataDir: string;
  /** When set (`esdb://…`, `esdb+discover://…`), EventStoreDB is used instead of SQLite. */
  eventStoreConnectionString?: string;
  /** Embedded store durability: "normal" survives a process kill, "full" also power loss. */
  eventStoreSync: "normal" | "full";
  /** Embedded store commits on a worker thread ("thread") or the event loop's ("inline"). */
  eventStoreWriter: "thread" | "inline";
}

/**
 * The configured adapter behind the event schemas (event-schemas.ts), so every reader gets
 * events in their current shape: the service's store and the CLI's are made here alike.
 */
export function createEventStore(
  config: EventStoreConfig,
  schemas: readonly EventSchema[],
): EventStore {
  return new UpcastingEventStore(createAdapter(config), new EventSchemas(schemas));
}

/** Picks the adapter: EventStoreDB when a connection string is configured, else SQLite. */
function createAdapter(config: EventStoreConfig): EventStore {
  if (config.eventStoreConnectionString) {
    return new EsdbEventStore({ connectionString: config.eventStoreConnectionString });
  }
  // Owner-only: the events hold emails, password hashes and key ciphertexts.
  preparePrivateDirectory(config.dataDir);
  const path = join(config.dataDir, "events.sqlite");
  restrictDatabaseToOwner(path);
  return new SqliteEventStore({
    path,
    sync: config.eventStoreSync,
    writer: config.eventStoreWriter,
  });
}
