import { type DynamicModule, Module } from "@nestjs/common";
import type { Clock } from "./common/clock.ts";
import type { AppConfig } from "./config/config.ts";
import { ConfigModule } from "./config/config.module.ts";
import { EventStoreModule } from "./event-store/event-store.module.ts";
import { OperationsModule } from "./operations/operations.module.ts";
import { ProjectionsModule } from "./projections/projections.module.ts";
import { AuthModule } from "./auth/auth.module.ts";
import { AdminModule } from "./admin/admin.module.ts";
import { RateLimitModule } from "./rate-limit/rate-limit.module.ts";
import { CatalogueModule } from "./catalogue/catalogue.module.ts";
import { BillingModule } from "./billing/billing.module.ts";
import { GenerationModule } from "./generation/generation.module.ts";
import { DeploymentsModule } from "./deployments/deployments.module.ts";
import { InferenceModule } from "./inference/inference.module.ts";

export interface AppModuleOptions {
  /** Tests pass a ManualClock to move time by hand. */
  clock?: Clock;
}

@Module({})
export class AppModule {
  static forRoot(config: AppConfig, options: AppModuleOptions = {}): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config, options.clock),
        EventStoreModule.forRoot(config),
        ProjectionsModule,
        OperationsModule,
        // feature modules
        RateLimitModule,
        AuthModule,
        AdminModule,
        CatalogueModule,
        BillingModule,
        GenerationModule,
        DeploymentsModule,
        InferenceModule,
      ],
    };
  }
}
