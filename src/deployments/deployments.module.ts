import { Global, Inject, Module } from "@nestjs/common";
import process from "node:process";
import { APP_CONFIG, type AppConfig } from "../config/config.ts";
import { ProjectionRunner } from "../projections/projection-runner.ts";
import { DeploymentsController } from "./deployments.controller.ts";
import { deploymentsProjection } from "./deployments.projection.ts";
import { DeploymentsQueries } from "./deployments.queries.ts";
import { ExternalUpstreamsService } from "./external/external-upstreams.service.ts";
import { SECRET_BOX, SecretBox } from "./external/secret-box.ts";

/**
 * Deployments: the read model the inference router uses, external upstream registration, and
 * (added by the RunPod work) pod lifecycle. Global so the router can inject DeploymentsQueries.
 */
@Global()
@Module({
  controllers: [DeploymentsController],
  providers: [
    DeploymentsQueries,
    ExternalUpstreamsService,
    {
      provide: SECRET_BOX,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => SecretBox.open(config.dataDir, process.env.SECRETS_KEY),
    },
  ],
  exports: [DeploymentsQueries, SECRET_BOX],
})
export class DeploymentsModule {
  constructor(@Inject(ProjectionRunner) runner: ProjectionRunner) {
    runner.register(deploymentsProjection);
  }
}
