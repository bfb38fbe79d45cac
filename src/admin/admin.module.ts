import { Module } from "@nestjs/common";
import { AdminAccountsController } from "./admin-accounts.controller.ts";

/** The operators' API under /admin (AdminOnly guard from the global AuthModule). */
@Module({ controllers: [AdminAccountsController] })
export class AdminModule {}
