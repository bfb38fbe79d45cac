import { Body, Controller, Headers, Inject, Param, Post } from "@nestjs/common";
import { ApiOperation, ApiTags } from "@nestjs/swagger";
import { ApiErrors } from "../api-docs/api-docs.decorators.ts";
import { AdminOnly } from "../auth/auth.decorators.ts";
import { AccountsQueries } from "../auth/accounts.queries.ts";
import { ADMIN_ACTOR } from "../auth/principal.ts";
import { ApiError } from "../common/api-error.ts";
import { newId } from "../common/ids.ts";
import { microsToUsd, usdToMicros } from "../common/money.ts";
import { parseIdempotencyKey } from "../common/query-params.ts";
import { AdminCreditsDto } from "./dto/admin-credits.dto.ts";
import { LedgerService } from "./ledger.service.ts";

/** Operators grant credits, or correct them with a negative amount. */
@Controller("admin/accounts")
@AdminOnly()
@ApiTags("Admin")
export class AdminCreditsController {
  constructor(
    @Inject(LedgerService) private readonly ledger: LedgerService,
    @Inject(AccountsQueries) private readonly accounts: AccountsQueries,
  ) {}

  @Post(":id/credits")
  @ApiOperation({ summary: "Grant credits, or correct them with a negative amount" })
  @ApiErrors([402, "A correction that would overdraw the account."], [404, "`account_not_found`"])
  async grant(
    @Param("id") accountId: string,
    @Body() body: AdminCreditsDto,
    @Headers("idempotency-key") idempotencyKey?: string,
  ) {
    if (!(await this.accounts.findById(accountId))) {
      throw ApiError.notFound(`No account '${accountId}'.`, "account_not_found");
    }
    const clientKey = parseIdempotencyKey(idempotencyKey);
    const amountMicros = toMicros(body.amount_usd);
    if (amountMicros === 0) {
      throw ApiError.badRequest("amount_usd must not be zero.", "amount_usd", "invalid_value");
    }
    const result = await this.ledger.grant(accountId, {
      grantId: clientKey ? `admin:${clientKey}` : newId("grant"),
      amountMicros,
      reason: body.reason,
      actor: ADMIN_ACTOR,
    });
    return { balance_usd: microsToUsd(result.balanceMicros), transaction_id: result.transactionId };
  }
}

/** The DTO bounds decimals, not size: an amount past what micro-dollars hold is a 400, not a 500. */
function toMicros(amountUsd: number): number {
  try {
    return usdToMicros(amountUsd);
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    throw ApiError.badRequest("amount_usd is out of range.", "amount_usd", "invalid_value");
  }
}
