import { Inject, Module } from "@nestjs/common";
import { ArtifactsModule } from "../artifacts/artifacts.module.ts";
import { AuthModule } from "../auth/auth.module.ts";
import { BillingModule } from "../billing/billing.module.ts";
import { CatalogueModule } from "../catalogue/catalogue.module.ts";
import { ApiKeyGuard } from "../auth/auth.guards.ts";
import { APP_CONFIG, type AppConfig } from "../config/config.ts";
import { ProjectionRunner } from "../projections/projection-runner.ts";
import { ProjectionsModule } from "../projections/projections.module.ts";
import { RunpodModule } from "../runpod/runpod.module.ts";
import { SecretBox } from "../security/secret-box.ts";
import { ArtifactAccessGuard } from "./artifact-access.guard.ts";
import { ArtifactLinks } from "./artifact-links.ts";
import { ArtifactUrlSigner } from "./artifact-urls.ts";
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
  providers: [
    JobCommandHandler,
    JobQueries,
    JobOutcome,
    JobBilling,
    GenerationService,
    JobPoller,
    // Signed artifact links: the key derives from the secrets key (the same file deployments use).
    {
      provide: ArtifactUrlSigner,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) =>
        ArtifactUrlSigner.fromSecretBox(SecretBox.open(config), config.artifactUrlTtlSeconds),
    },
    ArtifactLinks,
    // The artifacts route admits a signed link or, as before, the API key guard (built here).
    ApiKeyGuard,
    ArtifactAccessGuard,
  ],
})
export class GenerationModule {
  constructor(@Inject(ProjectionRunner) runner: ProjectionRunner) {
    runner.register(new JobStatusProjection());
  }
}
