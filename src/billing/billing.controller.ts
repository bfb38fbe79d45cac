import { Body, Controller, Get, Headers, Inject, Post, Query } from "@nestjs/common";
import { CurrentPrincipal, RequirePermission } from "../auth/auth.decorators.ts";
import type { Principal } from "../auth/principal.ts";
import { newId } from "../common/ids.ts";
import { microsToUsd } from "../common/money.ts";
import { parseIdempotencyKey, parseTimestamp } from "../common/query-params.ts";
import { BillingQueries } from "./billing.queries.ts";
import { CheckoutDto } from "./dto/checkout.dto.ts";
import { BalanceQueryDto, TransactionsQueryDto, UsageQueryDto } from "./dto/billing-queries.dto.ts";
import { LedgerService } from "./ledger.service.ts";
import { PaymentsService } from "./payments.service.ts";

/** The caller's own credits: balance, history, usage, and buying more. */
@Controller("api/billing")
@RequirePermission("read")
export class BillingController {
  constructor(
    @Inject(LedgerService) private readonly ledger: LedgerService,
    @Inject(BillingQueries) private readonly queries: BillingQueries,
    @Inject(PaymentsService) private readonly payments: PaymentsService,
  ) {}

  @Get("balance")
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

  @Get("transactions")
  transactions(@CurrentPrincipal() principal: Principal, @Query() query: TransactionsQueryDto) {
    return this.queries.transactions(principal.accountId, query.limit ?? 20, query.cursor);
  }

  @Get("usage")
  async usage(@CurrentPrincipal() principal: Principal, @Query() query: UsageQueryDto) {
    const groupBy = query.group_by ?? "model";
    const from = (parseTimestamp(query.from, "from") ?? new Date(0)).toISOString();
    // `to` is exclusive; without it the range is open-ended (up to now).
    const to = parseTimestamp(query.to, "to")?.toISOString();
    const usage = await this.queries.usage(principal.accountId, { from, to, groupBy });
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
  @RequirePermission("manage")
  checkout(
    @CurrentPrincipal() principal: Principal,
    @Body() body: CheckoutDto,
    @Headers("idempotency-key") idempotencyKey?: string,
  ) {
    const clientKey = parseIdempotencyKey(idempotencyKey);
    const key = clientKey ? `checkout:${principal.accountId}:${clientKey}` : newId("checkout");
    return this.payments.checkout(principal.accountId, body.amount_usd, key);
  }
}
