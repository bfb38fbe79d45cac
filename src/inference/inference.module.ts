import { Module } from "@nestjs/common";
import { APP_CONFIG, type AppConfig } from "../config/config.ts";
import { AccountConcurrency } from "./account-concurrency.ts";
import { AuthModule } from "../auth/auth.module.ts";
import { BillingModule } from "../billing/billing.module.ts";
import { CatalogueModule } from "../catalogue/catalogue.module.ts";
import { DeploymentsModule } from "../deployments/deployments.module.ts";
import { DeploymentWaker } from "../deployments/deployment-waker.ts";
import { ModelGroupsModule } from "../model-groups/model-groups.module.ts";
import { GroupRouting } from "./group-routing.ts";
import { RoutedInference } from "./routed-inference.ts";
import { WAKER } from "./wake.ts";
import { InferenceController } from "./inference.controller.ts";
import { PendingSettlements } from "./pending-settlements.ts";
import { InferenceService } from "./inference.service.ts";
import { ModelRouter } from "./model-router.ts";
import { ModelsService } from "./models.service.ts";
import { SseRelay } from "./streaming/sse-relay.ts";
import { UpstreamClient } from "./upstream/upstream-client.ts";
import { UsageRecorder } from "./usage-recorder.ts";

/** The OpenAI-compatible gateway: routes each request, relays it and bills its usage. */
@Module({
  imports: [AuthModule, BillingModule, CatalogueModule, DeploymentsModule, ModelGroupsModule],
  controllers: [InferenceController],
  providers: [
    InferenceService,
    ModelRouter,
    ModelsService,
    SseRelay,
    UpstreamClient,
    UsageRecorder,
    RoutedInference,
    {
      provide: GroupRouting,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => new GroupRouting(config.modelGroupCooldownMs),
    },
    // The pipeline's view of the deployments module's waker (see wake.ts).
    { provide: WAKER, useExisting: DeploymentWaker },
    { provide: PendingSettlements, useFactory: () => new PendingSettlements() },
    // One counter per process: realtime sessions count against the same per-account limit.
    {
      provide: AccountConcurrency,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) =>
        new AccountConcurrency(config.maxConcurrentRequestsPerAccount),
    },
  ],
  exports: [AccountConcurrency],
})
export class InferenceModule {}
