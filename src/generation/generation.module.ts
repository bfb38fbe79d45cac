import { Inject, Module } from "@nestjs/common";
import { ArtifactsModule } from "../artifacts/artifacts.module.ts";
import { AuthModule } from "../auth/auth.module.ts";
import { BillingModule } from "../billing/billing.module.ts";
import { CatalogueModule } from "../catalogue/catalogue.module.ts";
import { ProjectionRunner } from "../projections/projection-runner.ts";
import { ProjectionsModule } from "../projections/projections.module.ts";
import { RunpodModule } from "../runpod/runpod.module.ts";
import { ArtifactsController } from "./artifacts.controller.ts";
import { GenerationController } from "./generation.controller.ts";
import { GenerationService } from "./generation.service.ts";
import { JobCommandHandler } from "./job.handler.ts";
import { JobBilling } from "./job-billing.ts";
import { JobOutcome } from "./job-outcome.ts";
import { JobPoller } from "./job-poller.ts";
import { JobQueries } from "./job.queries.ts";
import { JobStatusProjection } from "./job-status.projection.ts";
import { JobsController } from "./jobs.controller.ts";

/**
 * Image, audio, video and text jobs on RunPod Serverless: the job stream (decider + handler),
 * its status projection, the background poller, artifacts and the HTTP API.
 */
@Module({
  imports: [
    ArtifactsModule,
    AuthModule,
    BillingModule,
    CatalogueModule,
    ProjectionsModule,
    RunpodModule,
  ],
  controllers: [GenerationController, JobsController, ArtifactsController],
  providers: [JobCommandHandler, JobQueries, JobOutcome, JobBilling, GenerationService, JobPoller],
})
export class GenerationModule {
  constructor(@Inject(ProjectionRunner) runner: ProjectionRunner) {
    runner.register(new JobStatusProjection());
  }
}
