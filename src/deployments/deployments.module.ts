import { Inject, Module } from "@nestjs/common";
import { AuthModule } from "../auth/auth.module.ts";
import { BillingModule } from "../billing/billing.module.ts";
import { APP_CONFIG, type AppConfig } from "../config/config.ts";
import { ProjectionRunner } from "../projections/projection-runner.ts";
import { ProjectionsModule } from "../projections/projections.module.ts";
import { DeploymentsController } from "./deployments.controller.ts";
import { deploymentsProjection } from "./deployments.projection.ts";
import { DeploymentsQueries } from "./deployments.queries.ts";
import { UpstreamTargets } from "./upstream-targets.ts";
import { ExternalUpstreamsService } from "./external/external-upstreams.service.ts";
import { SECRET_BOX, SecretBox } from "../security/secret-box.ts";
import { RunpodModule } from "../runpod/runpod.module.ts";
import { DeploymentCommandHandler } from "./deployment.handler.ts";
import { PodDeploymentsQueries } from "./pods/pod-deployments.queries.ts";
import { GpuPriceTable } from "../catalogue/gpu-prices.ts";
import { GpuOffers } from "./pods/gpu-offers.ts";
import { PodHealthService } from "./pods/pod-health.service.ts";
import { PodHolds } from "./pods/pod-holds.ts";
import { PodSlots } from "./pods/pod-slots.ts";
import { PodLifecycleService } from "./pods/pod-lifecycle.service.ts";
import { PodMetering } from "./pods/pod-metering.ts";
import { PodProvisioner } from "./pods/pod-provisioner.ts";
import { PodReconciler } from "./pods/pod-reconciler.ts";
import { PodIdleSweep } from "./pods/pod-idle-sweep.ts";
import { DeploymentWaker } from "./deployment-waker.ts";

/**
 * Deployments: external upstream registration and the pod lifecycle on RunPod (holds and
 * metering through the ledger). Exports the read model, the upstream targets (base URL and
 * ready authorization) and the waker (wake on request) for inference; the key box stays here.
 */
@Module({
  imports: [AuthModule, BillingModule, ProjectionsModule, RunpodModule],
  controllers: [DeploymentsController],
  providers: [
    DeploymentsQueries,
    UpstreamTargets,
    ExternalUpstreamsService,
    // RunPod pods: command handler, background provisioning, health, reconciler, metering.
    DeploymentCommandHandler,
    PodDeploymentsQueries,
    // Deploy's price quote fallback, per-account pod slots, and the prepaid hold's settlement.
    GpuPriceTable,
    GpuOffers,
    PodSlots,
    PodHolds,
    PodProvisioner,
    PodLifecycleService,
    PodHealthService,
    PodReconciler,
    PodMetering,
    // Sleep and wake: the idle sweep stops unused pods; the waker starts them on a request.
    DeploymentWaker,
    PodIdleSweep,
    {
      provide: SECRET_BOX,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => SecretBox.open(config),
    },
  ],
  exports: [DeploymentsQueries, UpstreamTargets, DeploymentWaker],
})
export class DeploymentsModule {
  constructor(@Inject(ProjectionRunner) runner: ProjectionRunner) {
    runner.register(deploymentsProjection);
  }
}
