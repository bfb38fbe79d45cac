import { ApiOperation, ApiProduces, ApiTags } from "@nestjs/swagger";
import { ApiErrors } from "../api-docs/api-docs.decorators.ts";
import { Body, Controller, Get, Headers, Inject, Post, Query, Req, Res } from "@nestjs/common";
import type { FastifyReply } from "fastify";
import { CurrentPrincipal, RequirePermission } from "../auth/auth.decorators.ts";
import type { Principal } from "../auth/principal.ts";
import type { Clock } from "../common/clock.ts";
import { CLOCK } from "../common/clock.ts";
import { newId } from "../common/ids.ts";
import { microsToUsd } from "../common/money.ts";
import { type OriginRequest, publicOrigin } from "../common/public-origin.ts";
import { parseIdempotencyKey, parseTimestamp } from "../common/query-params.ts";
import { APP_CONFIG, type AppConfig } from "../config/config.ts";
import { BillingQueries } from "./billing.queries.ts";
import { toCsv } from "./csv.ts";
import { CheckoutDto } from "./dto/checkout.dto.ts";
import { BalanceQueryDto, TransactionsQueryDto, UsageQueryDto } from "./dto/billing-queries.dto.ts";
import { FIRST_PURCHASE_BONUS_PERCENT, MINIMUM_PURCHASE_MICROS } from "./ledger.decider.ts";
import { LedgerService } from "./ledger.service.ts";
import { PaymentsService } from "./payments.service.ts";

/** Most rows one CSV export of transactions holds (newest first); `x-export-truncated` says more exist. */
export const CSV_EXPORT_MAX_ROWS = 10_000;

/** The caller's own credits: balance, history, usage, and buying more. */
@Controller("api/billing")
@RequirePermission("read")
@ApiTags("Billing")
export class BillingController {
  constructor(
    @Inject(LedgerService) private readonly ledger: LedgerService,
    @Inject(BillingQueries) private readonly queries: BillingQueries,
    @Inject(PaymentsService) private readonly payments: PaymentsService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  @Get("balance")
  @ApiOperation({ summary: "Balance and available credit, now or `at` an instant" })
  async balance(@CurrentPrincipal() principal: Principal, @Query() query: BalanceQueryDto) {
    const at = parseTimestamp(query.at, "at");
    const balance = at
      ? await this.queries.balanceAt(principal.accountId, at)
      : await this.ledger.balance(principal.accountId);
    return {
      object: "balance",
      balance_usd: microsToUsd(balance.balanceMicros),
      available_usd: microsToUsd(balance.availableMicros),
      currency: "usd",
      ...(at ? { at: at.toISOString() } : {}),
    };
  }

  /** What the console's overview and billing pages show at the top. */
  @Get("summary")
  @ApiOperation({ summary: "Balance, this month's spend, today's requests and purchase terms" })
  async summary(@CurrentPrincipal() principal: Principal) {
    const now = this.clock.now();
    const monthStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
    const [ledger, monthSpend, requestsToday] = await Promise.all([
      this.ledger.summary(principal.accountId),
      this.queries.spendSince(principal.accountId, monthStart.toISOString()),
      this.queries.requestsOn(principal.accountId, now.toISOString().slice(0, 10)),
    ]);
    return {
      object: "billing.summary",
      balance_usd: microsToUsd(ledger.balanceMicros),
      available_usd: microsToUsd(ledger.availableMicros),
      month_spend_usd: microsToUsd(monthSpend),
      requests_today: requestsToday,
      first_purchase_bonus_available: ledger.firstPurchaseBonusAvailable,
      minimum_purchase_usd: microsToUsd(MINIMUM_PURCHASE_MICROS),
      bonus_percent: FIRST_PURCHASE_BONUS_PERCENT,
      currency: "usd",
    };
  }

  @Get("transactions")
  @ApiOperation({ summary: "Ledger transactions, newest first (`format=csv` for a download)" })
  @ApiProduces("application/json", "text/csv")
  async transactions(
    @CurrentPrincipal() principal: Principal,
    @Query() query: TransactionsQueryDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    if (query.format !== "csv") {
      return this.queries.transactions(principal.accountId, query.limit ?? 20, query.cursor);
    }
    const { rows, truncated } = await this.queries.transactionsForExport(
      principal.accountId,
      CSV_EXPORT_MAX_ROWS,
      query.cursor,
    );
    if (truncated) reply.header("x-export-truncated", "true");
    return csvAttachment(
      reply,
      "transactions.csv",
      toCsv(
        [
          "id",
          "created_at",
          "type",
          "amount_usd",
          "balance_after_usd",
          "model",
          "reference",
          "description",
        ],
        rows.map((row) => [
          row.id,
          row.created_at,
          row.type,
          row.amount_usd,
          row.balance_after_usd,
          row.model,
          row.reference,
          row.description,
        ]),
      ),
    );
  }

  @Get("usage")
  @ApiOperation({ summary: "Spend by model or day (`format=csv` for a download)" })
  @ApiProduces("application/json", "text/csv")
  async usage(
    @CurrentPrincipal() principal: Principal,
    @Query() query: UsageQueryDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    const groupBy = query.group_by ?? "model";
    const from = (parseTimestamp(query.from, "from") ?? new Date(0)).toISOString();
    // `to` is exclusive; without it the range is open-ended (up to now).
    const to = parseTimestamp(query.to, "to")?.toISOString();
    const usage = await this.queries.usage(principal.accountId, { from, to, groupBy });
    if (query.format === "csv") {
      return csvAttachment(
        reply,
        `usage-by-${groupBy}.csv`,
        toCsv(
          [groupBy, "requests", "refunds", "cost_usd"],
          usage.rows.map((row) => [row[groupBy], row.requests, row.refunds, row.cost_usd]),
        ),
      );
    }
    return {
      object: "list",
      group_by: groupBy,
      from,
      to: to ?? null,
      data: usage.rows,
      total_cost_usd: microsToUsd(usage.totalMicros),
    };
  }

  @Post("checkout")
  @ApiOperation({ summary: "A Stripe Checkout URL to buy credits ($5 minimum)" })
  @ApiErrors(
    [400, "`below_minimum_purchase`, or an invalid `amount_usd`."],
    [502, "Stripe refused or failed the request."],
    [503, "Payments are not configured (STRIPE_SECRET_KEY), or the instance is busy."],
  )
  @RequirePermission("manage")
  checkout(
    @CurrentPrincipal() principal: Principal,
    @Body() body: CheckoutDto,
    @Req() request: OriginRequest,
    @Headers("idempotency-key") idempotencyKey?: string,
  ) {
    const clientKey = parseIdempotencyKey(idempotencyKey);
    const key = clientKey ? `checkout:${principal.accountId}:${clientKey}` : newId("checkout");
    // Stripe sends the payer back to the console's billing page on the origin they came from.
    const origin = publicOrigin(request, this.config);
    return this.payments.checkout(principal.accountId, body.amount_usd, key, origin);
  }
}

function csvAttachment(reply: FastifyReply, filename: string, body: string): string {
  reply.header("content-type", "text/csv; charset=utf-8");
  reply.header("content-disposition", `attachment; filename="${filename}"`);
  reply.header("cache-control", "no-store");
  return body;
}
