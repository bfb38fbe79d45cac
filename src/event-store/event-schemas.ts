import type { EventMetadata, NewEvent, RecordedEvent } from "./event-store.port.ts";

/**
 * Event schema versions, so stored history always loads. Stored events are never edited: when
 * an event's data shape changes, its type's `version` goes up by one and an upcaster turns the
 * previous shape into the new one on read.
 *
 * - The version of a stored event is `metadata.schemaVersion`; absent means 1, so every event
 *   written before versions existed, and every event of a type still at version 1, is version 1.
 * - Appending an event whose type is past version 1 records `schemaVersion` in its metadata;
 *   types at version 1 write nothing new.
 * - Reads (readStream, readAll, subscribeToAll) run the upcasters from the stored version up to
 *   the current one (UpcastingEventStore); the event read carries the current `schemaVersion`.
 *
 * How schemas get here, explicitly: the event-store folder imports nothing from feature modules.
 * A feature module whose event shape changed exports its list (`BILLING_EVENT_SCHEMAS` beside
 * its events), src/event-schemas.ts concatenates every module's list into EVENT_SCHEMAS, and
 * both AppModule (`EventStoreModule.forRoot(config, EVENT_SCHEMAS)`) and the CLI
 * (`createEventStore(config, EVENT_SCHEMAS)`) hand it to the store. A type nobody lists is at
 * version 1 with no upcasters.
 */

/** Turns data of schema version `from` into version `from + 1`. Must not mutate its input. */
export interface Upcaster {
  from: number;
  upcast(data: any, metadata: EventMetadata): unknown;
}

export interface EventSchema {
  type: string;
  /** The version appends write now; 1 when the shape never changed. */
  version: number;
  /** One per step below `version`, from 1 up: `[{ from: 1, … }, { from: 2, … }]`. */
  upcasters: Upcaster[];
}

/** The metadata key that holds an event's schema version. */
export const SCHEMA_VERSION_KEY = "schemaVersion";

/** Every registered schema, checked once: each type's upcasters cover every step up to it. */
export class EventSchemas {
  private readonly byType = new Map<string, EventSchema>();

  constructor(schemas: Iterable<EventSchema> = []) {
    for (const schema of schemas) {
      if (this.byType.has(schema.type)) {
        throw new Error(`event schema for ${schema.type} registered twice`);
      }
      const { type, version, upcasters } = schema;
      if (!Number.isInteger(version) || version < 1) {
        throw new Error(`event schema for ${type}: version must be a whole number from 1`);
      }
      const steps = upcasters.map((upcaster) => upcaster.from);
      const expected = Array.from({ length: version - 1 }, (_, index) => index + 1);
      if (steps.join() !== expected.join()) {
        throw new Error(
          `event schema for ${type} at version ${version} needs upcasters from ${
            expected.join(", ") || "nothing"
          } in order, has [${steps.join(", ")}]`,
        );
      }
      // Version-1 types need nothing on either path: leaving them out keeps reads a lookup.
      if (version > 1) this.byType.set(type, schema);
    }
  }

  /** Whether any type is past version 1: with none, reads pass events through untouched. */
  get isEmpty(): boolean {
    return this.byType.size === 0;
  }

  currentVersionOf(type: string): number {
    return this.byType.get(type)?.version ?? 1;
  }

  /** The event as appended: a type past version 1 records the version it is written in. */
  stamp(event: NewEvent): NewEvent {
    const schema = this.byType.get(event.type);
    if (!schema) return event;
    return { ...event, metadata: { ...event.metadata, [SCHEMA_VERSION_KEY]: schema.version } };
  }

  /** The event in its type's current shape; events already current come back as they are. */
  upcast(event: RecordedEvent): RecordedEvent {
    const schema = this.byType.get(event.type);
    if (!schema) return event;
    const stored = storedVersionOf(event.metadata);
    // Newer than this code knows (written by a later release): nothing to upcast it with.
    if (stored >= schema.version) return event;
    let data = event.data;
    for (const upcaster of schema.upcasters.slice(stored - 1)) {
      data = upcaster.upcast(data, event.metadata);
    }
    return {
      id: event.id,
      type: event.type,
      data,
      metadata: { ...event.metadata, [SCHEMA_VERSION_KEY]: schema.version },
      stream: event.stream,
      revision: event.revision,
      position: event.position,
      createdAt: event.createdAt,
    };
  }
}

function storedVersionOf(metadata: EventMetadata): number {
  const version = metadata?.[SCHEMA_VERSION_KEY];
  return typeof version === "number" && Number.isInteger(version) && version >= 1 ? version : 1;
}
