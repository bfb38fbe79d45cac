import { Global, Inject, Module } from "@nestjs/common";
import { ProjectionRunner } from "../projections/projection-runner.ts";
import { AccountCommands } from "./account.commands.ts";
import { accountsProjection } from "./accounts.projection.ts";
import { AccountsQueries } from "./accounts.queries.ts";
import { ApiKeysController } from "./api-keys.controller.ts";
import { ApiKeysQueries } from "./api-keys.queries.ts";
import { AuthController } from "./auth.controller.ts";
import { AdminGuard, ApiKeyGuard } from "./auth.guards.ts";
import { CredentialBudgets } from "./credential-budgets.ts";
import { CredentialVerifier } from "./credential-verifier.ts";
import { credentialsProjection } from "./credentials.projection.ts";
import { KeyUsageTracker } from "./key-usage.tracker.ts";
import { LoginThrottle } from "./login-throttle.ts";

/**
 * Accounts, sessions and API keys. Global, so any module can use @RequirePermission,
 * @AdminOnly and AccountsQueries without importing this module.
 */
@Global()
@Module({
  controllers: [AuthController, ApiKeysController],
  providers: [
    AccountCommands,
    AccountsQueries,
    ApiKeysQueries,
    CredentialVerifier,
    CredentialBudgets,
    LoginThrottle,
    KeyUsageTracker,
    ApiKeyGuard,
    AdminGuard,
  ],
  exports: [
    AccountCommands,
    AccountsQueries,
    CredentialVerifier,
    CredentialBudgets,
    KeyUsageTracker,
    ApiKeyGuard,
    AdminGuard,
  ],
})
export class AuthModule {
  constructor(@Inject(ProjectionRunner) runner: ProjectionRunner) {
    runner.register(accountsProjection);
    runner.register(credentialsProjection);
  }
}
