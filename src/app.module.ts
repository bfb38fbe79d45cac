import { type DynamicModule, Module } from "@nestjs/common";
import type { Clock } from "./common/clock.ts";
import type { AppConfig } from "./config/config.ts";
import { ConfigModule } from "./config/config.module.ts";
import { EventStoreModule } from "./event-store/event-store.module.ts";
import { EVENT_SCHEMAS } from "./event-schemas.ts";
import { OperationsModule } from "./operations/operations.module.ts";
import { ProjectionsModule } from "./projections/projections.module.ts";
import { AuthModule } from "./auth/auth.module.ts";
import { OAuthModule } from "./auth/oauth/oauth.module.ts";
import { AdminModule } from "./admin/admin.module.ts";
import { RateLimitModule } from "./rate-limit/rate-limit.module.ts";
import { CatalogueModule } from "./catalogue/catalogue.module.ts";
import { BillingModule } from "./billing/billing.module.ts";
import { GenerationModule } from "./generation/generation.module.ts";
import { DeploymentsModule } from "./deployments/deployments.module.ts";
import { InferenceModule } from "./inference/inference.module.ts";
import { ModelGroupsModule } from "./model-groups/model-groups.module.ts";
import { RealtimeModule } from "./realtime/realtime.module.ts";
import { ApiDocsModule } from "./api-docs/api-docs.module.ts";
import { ConsoleModule } from "./console/console.module.ts";

export interface AppModuleOptions {
  /** Tests pass a ManualClock to move time by hand. */
  clock?: Clock;
}

/**
 * The root. Of our modules only configuration and the event store are global; every other
 * module imports what it injects (see the module graph in the README). Deno and jest's SWC
 * transform both emit constructor type metadata, yet every injection names its token with
 * @Inject(Token): ports such as EVENT_STORE have no runtime type, and one way to write reads
 * the same for classes and ports.
 */
@Module({})
export class AppModule {
  static forRoot(config: AppConfig, options: AppModuleOptions = {}): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config, options.clock),
        EventStoreModule.forRoot(config, EVENT_SCHEMAS),
        ProjectionsModule,
        OperationsModule,
        // feature modules
        RateLimitModule,
        AuthModule,
        OAuthModule,
        AdminModule,
        CatalogueModule,
        BillingModule,
        GenerationModule,
        DeploymentsModule,
        ModelGroupsModule,
        InferenceModule,
        RealtimeModule,
        ApiDocsModule,
        // last: the web console's pages are exact paths beside the API
        ConsoleModule,
      ],
    };
  }
}
