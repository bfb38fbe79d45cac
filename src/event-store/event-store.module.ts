import {
  type DynamicModule,
  Global,
  Inject,
  Module,
  type OnApplicationShutdown,
} from "@nestjs/common";
import { createEventStore, type EventStoreConfig } from "./create-event-store.ts";
import type { EventSchema } from "./event-schemas.ts";
import { EVENT_STORE, type EventStore } from "./event-store.port.ts";
import { InstrumentedEventStore } from "./instrumented-event-store.ts";

/** Closes the store (flushing queued appends) when Nest shuts down. */
class EventStoreLifecycle implements OnApplicationShutdown {
  constructor(@Inject(EVENT_STORE) private readonly store: EventStore) {}

  async onApplicationShutdown(): Promise<void> {
    await this.store.close();
  }
}

/**
 * Provides EVENT_STORE to the whole application. `forRoot(config, schemas)` takes the already
 * validated configuration and every feature module's event schemas (src/event-schemas.ts); the
 * store opens when the module is created and closes on shutdown.
 */
@Global()
@Module({})
export class EventStoreModule {
  static forRoot(config: EventStoreConfig, schemas: readonly EventSchema[]): DynamicModule {
    return {
      module: EventStoreModule,
      providers: [
        {
          provide: EVENT_STORE,
          useFactory: () => new InstrumentedEventStore(createEventStore(config, schemas)),
        },
        EventStoreLifecycle,
      ],
      exports: [EVENT_STORE],
    };
  }
}
