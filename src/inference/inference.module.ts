import { Module } from "@nestjs/common";
import { AuthModule } from "../auth/auth.module.ts";
import { BillingModule } from "../billing/billing.module.ts";
import { CatalogueModule } from "../catalogue/catalogue.module.ts";
import { DeploymentsModule } from "../deployments/deployments.module.ts";
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
  imports: [AuthModule, BillingModule, CatalogueModule, DeploymentsModule],
  controllers: [InferenceController],
  providers: [
    InferenceService,
    ModelRouter,
    ModelsService,
    SseRelay,
    UpstreamClient,
    UsageRecorder,
    { provide: PendingSettlements, useFactory: () => new PendingSettlements() },
  ],
})
export class InferenceModule {}
