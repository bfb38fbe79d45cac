import { Inject, Module } from "@nestjs/common";
import { AuthModule } from "../auth/auth.module.ts";
import { CatalogueModule } from "../catalogue/catalogue.module.ts";
import { DeploymentsModule } from "../deployments/deployments.module.ts";
import { ProjectionRunner } from "../projections/projection-runner.ts";
import { ProjectionsModule } from "../projections/projections.module.ts";
import { ModelGroupCommandHandler } from "./model-group.handler.ts";
import { ModelGroupsController } from "./model-groups.controller.ts";
import { modelGroupsProjection } from "./model-groups.projection.ts";
import { ModelGroupsQueries } from "./model-groups.queries.ts";
import { ModelGroupsService } from "./model-groups.service.ts";

/**
 * Model groups (`/api/model-groups`): their streams, name claims and read model. Exports the
 * read model's queries for the inference router, which does the routing itself.
 */
@Module({
  imports: [AuthModule, CatalogueModule, DeploymentsModule, ProjectionsModule],
  controllers: [ModelGroupsController],
  providers: [ModelGroupCommandHandler, ModelGroupsQueries, ModelGroupsService],
  exports: [ModelGroupsQueries],
})
export class ModelGroupsModule {
  constructor(@Inject(ProjectionRunner) runner: ProjectionRunner) {
    runner.register(modelGroupsProjection);
  }
}
