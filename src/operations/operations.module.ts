import { Module } from "@nestjs/common";
import { AdminHealthController, OperationsController } from "./operations.controller.ts";

@Module({ controllers: [OperationsController, AdminHealthController] })
export class OperationsModule {}
