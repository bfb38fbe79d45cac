import { Module } from "@nestjs/common";
import { AuthModule } from "../auth/auth.module.ts";
import { ProjectionsModule } from "../projections/projections.module.ts";
import { AdminHealthController, OperationsController } from "./operations.controller.ts";

/** Health and Prometheus metrics; the logger and metrics themselves are module-free singletons. */
@Module({
  imports: [AuthModule, ProjectionsModule],
  controllers: [OperationsController, AdminHealthController],
})
export class OperationsModule {}
