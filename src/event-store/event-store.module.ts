import {
  type DynamicModule,
  Global,
  Inject,
  Module,
  type OnApplicationShutdown,
} from "@nestjs/common";
import { createEventStore, type EventStoreConfig } from "./create-event-store.ts";
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
 * Provides EVENT_STORE to the whole application. `forRoot(config)` takes the already validated
 * configuration; the store opens when the module is created and closes on shutdown.
 */
@Global()
@Module({})
export class EventStoreModule {
  static forRoot(config: EventStoreConfig): DynamicModule {
    return {
      module: EventStoreModule,
      global: true,
      providers: [
        {
          provide: EVENT_STORE,
          useFactory: () => new InstrumentedEventStore(createEventStore(config)),
        },
        EventStoreLifecycle,
      ],
      exports: [EVENT_STORE],
    };
  }
}
