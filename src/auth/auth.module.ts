import { Inject, Module } from "@nestjs/common";
import { ProjectionRunner } from "../projections/projection-runner.ts";
import { ProjectionsModule } from "../projections/projections.module.ts";
import { RateLimitModule } from "../rate-limit/rate-limit.module.ts";
import { AccountCommandHandler } from "./account.handler.ts";
import { AccountController } from "./account.controller.ts";
import { ApiKeyCommandHandler } from "./api-key.handler.ts";
import { AuthStreams } from "./auth-streams.ts";
import { SessionsController } from "./sessions.controller.ts";
import { SessionsQueries } from "./sessions.queries.ts";
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
 * Accounts, sessions and API keys. A module whose routes use @RequirePermission imports this
 * one: its guard is built in that module from the exported CredentialVerifier and budgets.
 */
@Module({
  imports: [ProjectionsModule, RateLimitModule],
  controllers: [AuthController, AccountController, SessionsController, ApiKeysController],
  providers: [
    AuthStreams,
    AccountCommandHandler,
    ApiKeyCommandHandler,
    SessionsQueries,
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
    AccountCommandHandler,
    ApiKeyCommandHandler,
    AccountsQueries,
    CredentialVerifier,
    CredentialBudgets,
  ],
})
export class AuthModule {
  constructor(@Inject(ProjectionRunner) runner: ProjectionRunner) {
    runner.register(accountsProjection);
    runner.register(credentialsProjection);
  }
}
