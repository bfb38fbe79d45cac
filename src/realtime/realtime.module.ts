import { Inject, Module } from "@nestjs/common";
import { HttpAdapterHost } from "@nestjs/core";
import { AuthModule } from "../auth/auth.module.ts";
import { BillingModule } from "../billing/billing.module.ts";
import { CatalogueModule } from "../catalogue/catalogue.module.ts";
import { DeploymentsModule } from "../deployments/deployments.module.ts";
import { InferenceModule } from "../inference/inference.module.ts";
import { ProjectionRunner } from "../projections/projection-runner.ts";
import { ProjectionsModule } from "../projections/projections.module.ts";
import { RealtimeController } from "./realtime.controller.ts";
import {
  realtimeCapabilitiesProjection,
  realtimeSessionsProjection,
} from "./realtime.projection.ts";
import { RealtimeQueries } from "./realtime.queries.ts";
import { RealtimeReconciler } from "./realtime-reconciler.process.ts";
import { RealtimeRouter } from "./realtime-router.ts";
import { RealtimeService } from "./realtime.service.ts";
import { RealtimeSessionHandler } from "./realtime-session.handler.ts";
import { routeUpgrades } from "./realtime-upgrade.ts";

/**
 * `/v1/realtime`: WebSocket sessions relayed to deployments that speak the realtime protocol
 * and to catalogue realtime models, recorded per session and billed per response. Imports
 * Inference for the per-account concurrency counter that sessions share with HTTP calls.
 */
@Module({
  imports: [
    AuthModule,
    BillingModule,
    CatalogueModule,
    DeploymentsModule,
    InferenceModule,
    ProjectionsModule,
  ],
  controllers: [RealtimeController],
  providers: [
    RealtimeQueries,
    RealtimeReconciler,
    RealtimeRouter,
    RealtimeService,
    RealtimeSessionHandler,
  ],
})
export class RealtimeModule {
  constructor(
    @Inject(ProjectionRunner) runner: ProjectionRunner,
    @Inject(HttpAdapterHost) adapterHost: HttpAdapterHost,
  ) {
    runner.register(realtimeCapabilitiesProjection);
    runner.register(realtimeSessionsProjection);
    // Upgrades go through Fastify's router to the controller, like any request.
    const fastify = adapterHost.httpAdapter?.getInstance?.();
    if (fastify) routeUpgrades(fastify);
  }
}
