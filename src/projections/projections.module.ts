import {
  Inject,
  Module,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from "@nestjs/common";
import { APP_CONFIG, type AppConfig } from "../config/config.ts";
import { EVENT_STORE, type EventStore } from "../event-store/event-store.port.ts";
import { ProjectionRunner } from "./projection-runner.ts";
import { ReadModelDatabase, readModelDatabasePath } from "./read-model.database.ts";

/**
 * The read side. Feature modules import this one, inject ProjectionRunner and call
 * `register(projection)` in their constructor or onModuleInit; the runner starts feeding them
 * once the app has booted. A static module, so every importer shares the one runner.
 */
@Module({
  providers: [
    {
      provide: ReadModelDatabase,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) =>
        new ReadModelDatabase(readModelDatabasePath(config.dataDir, config.instanceId)),
    },
    {
      provide: ProjectionRunner,
      inject: [EVENT_STORE, ReadModelDatabase],
      useFactory: (store: EventStore, readModels: ReadModelDatabase) =>
        new ProjectionRunner(store, readModels),
    },
  ],
  exports: [ReadModelDatabase, ProjectionRunner],
})
export class ProjectionsModule implements OnApplicationBootstrap, OnApplicationShutdown {
  constructor(
    @Inject(ProjectionRunner) private readonly runner: ProjectionRunner,
    @Inject(ReadModelDatabase) private readonly readModels: ReadModelDatabase,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.runner.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.runner.stop();
    this.readModels.close();
  }
}
