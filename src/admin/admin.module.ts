import { Module } from "@nestjs/common";
import { AdminAccountsController } from "./admin-accounts.controller.ts";
import { AdminEventLogController } from "./admin-event-log.controller.ts";

/** The operators' API under /admin (AdminOnly guard from the global AuthModule). */
@Module({ controllers: [AdminAccountsController, AdminEventLogController] })
export class AdminModule {}
