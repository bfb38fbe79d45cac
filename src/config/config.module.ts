import { type DynamicModule, Global, Module } from "@nestjs/common";
import { CLOCK, type Clock, systemClock } from "../common/clock.ts";
import { APP_CONFIG, type AppConfig } from "./config.ts";

/** Provides the validated AppConfig (APP_CONFIG) and the one clock (CLOCK) to every module. */
@Global()
@Module({})
export class ConfigModule {
  static forRoot(config: AppConfig, clock: Clock = systemClock): DynamicModule {
    return {
      module: ConfigModule,
      providers: [
        { provide: APP_CONFIG, useValue: config },
        { provide: CLOCK, useValue: clock },
      ],
      exports: [APP_CONFIG, CLOCK],
    };
  }
}
