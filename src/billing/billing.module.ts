import { Inject, Module } from "@nestjs/common";
import { HttpAdapterHost } from "@nestjs/core";
import { AuthModule } from "../auth/auth.module.ts";
import { APP_CONFIG, type AppConfig } from "../config/config.ts";
import { ProjectionRunner } from "../projections/projection-runner.ts";
import { ProjectionsModule } from "../projections/projections.module.ts";
import { AdminCreditsController } from "./admin-credits.controller.ts";
import { ACCOUNT_BALANCE_READER, type AccountBalanceReader } from "./balance-reader.ts";
import { BillingController } from "./billing.controller.ts";
import { BillingQueries } from "./billing.queries.ts";
import { ChargeReconciler } from "./charge-reconciler.process.ts";
import { HoldExpiryProcess } from "./hold-expiry.process.ts";
import { InferenceChargesProjection } from "./inference-charges.projection.ts";
import { LedgerHistoryProjection } from "./ledger-history.projection.ts";
import { LedgerProjection } from "./ledger.projection.ts";
import { LEDGER_KEY_RECALL, type LedgerKeyRecall } from "./ledger-key-recall.ts";
import { LedgerService } from "./ledger.service.ts";
import { PaymentsService } from "./payments.service.ts";
import { captureRawBody } from "./raw-body.ts";
import { RequestCountsProjection } from "./request-counts.projection.ts";
import { STRIPE_WEBHOOK_PATH, StripeWebhookController } from "./stripe-webhook.controller.ts";
import { StripeGateway } from "./stripe.gateway.ts";

/**
 * Credits: the ledger (LedgerService, the one way to move credits), its read model, hold
 * expiry, Stripe payments and the billing/admin HTTP API. Generation, deployments and
 * inference import it to reserve, settle and charge; admin reads balances through the port.
 */
@Module({
  imports: [AuthModule, ProjectionsModule],
  controllers: [BillingController, StripeWebhookController, AdminCreditsController],
  providers: [
    LedgerService,
    BillingQueries,
    {
      provide: LEDGER_KEY_RECALL,
      inject: [BillingQueries],
      useFactory: (queries: BillingQueries): LedgerKeyRecall => ({
        recall: (accountId, key, through) => queries.recallLedgerKey(accountId, key, through),
      }),
    },
    ChargeReconciler,
    HoldExpiryProcess,
    StripeGateway,
    PaymentsService,
    {
      provide: ACCOUNT_BALANCE_READER,
      inject: [LedgerService],
      useFactory: (ledger: LedgerService): AccountBalanceReader => ({
        balanceMicros: async (accountId) => (await ledger.balance(accountId)).balanceMicros,
      }),
    },
  ],
  exports: [LedgerService, ACCOUNT_BALANCE_READER],
})
export class BillingModule {
  constructor(
    @Inject(ProjectionRunner) runner: ProjectionRunner,
    @Inject(HttpAdapterHost) adapterHost: HttpAdapterHost,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    runner.register(new LedgerProjection());
    runner.register(new LedgerHistoryProjection());
    runner.register(new InferenceChargesProjection());
    runner.register(new RequestCountsProjection());
    // Before routes are registered: Stripe signatures are over the exact bytes received.
    const fastify = adapterHost.httpAdapter?.getInstance?.();
    if (fastify) {
      captureRawBody(fastify, [STRIPE_WEBHOOK_PATH], Math.min(config.bodyLimitBytes, 1024 * 1024));
    }
  }
}
