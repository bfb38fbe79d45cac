import { Module } from "@nestjs/common";
import { AuthModule } from "../auth/auth.module.ts";
import { BillingModule } from "../billing/billing.module.ts";
import { ProjectionsModule } from "../projections/projections.module.ts";
import { AdminAccountsController } from "./admin-accounts.controller.ts";
import { AdminAuditController } from "./admin-audit.controller.ts";
import { AdminEventLogController } from "./admin-event-log.controller.ts";

/** The operators' API under /admin: accounts and keys, balances, the event log, projections. */
@Module({
  imports: [AuthModule, BillingModule, ProjectionsModule],
  controllers: [AdminAccountsController, AdminEventLogController, AdminAuditController],
})
export class AdminModule {}
