import { Module } from "@nestjs/common";
import { InferenceController } from "./inference.controller.ts";
import { PendingSettlements } from "./pending-settlements.ts";
import { InferenceService } from "./inference.service.ts";
import { ModelRouter } from "./model-router.ts";
import { ModelsService } from "./models.service.ts";
import { UpstreamClient } from "./upstream/upstream-client.ts";
import { UsageRecorder } from "./usage-recorder.ts";

/**
 * The OpenAI-compatible gateway. Depends on the global DeploymentsModule (routing read model),
 * CatalogueModule (serverless models and prices), BillingModule (LedgerService) and AuthModule.
 */
@Module({
  controllers: [InferenceController],
  providers: [
    InferenceService,
    ModelRouter,
    ModelsService,
    UpstreamClient,
    UsageRecorder,
    { provide: PendingSettlements, useFactory: () => new PendingSettlements() },
  ],
  exports: [ModelRouter, UsageRecorder],
})
export class InferenceModule {}
