import { Type } from "class-transformer";
import { IsIn, IsInt, IsOptional, IsString, Max, MaxLength, Min } from "../../common/validators.ts";

// Instants are only checked to be one string here; the controller parses them with
// parseTimestamp (common/query-params.ts), which also refuses ISO forms `Date` cannot hold.

export class BalanceQueryDto {
  /** Answer the balance at this instant, replayed from the ledger. */
  @IsOptional()
  @IsString()
  @MaxLength(64)
  at?: string;
}

export class TransactionsQueryDto {
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(100)
  limit?: number;

  @IsOptional()
  @IsString()
  @MaxLength(200)
  cursor?: string;

  /** `csv`: every row from `cursor` on (up to the export bound) as a text/csv attachment. */
  @IsOptional()
  @IsIn(["json", "csv"])
  format?: "json" | "csv";
}

export class UsageQueryDto {
  @IsOptional()
  @IsString()
  @MaxLength(64)
  from?: string;

  @IsOptional()
  @IsString()
  @MaxLength(64)
  to?: string;

  @IsOptional()
  @IsIn(["model", "day"])
  group_by?: "model" | "day";

  @IsOptional()
  @IsIn(["json", "csv"])
  format?: "json" | "csv";
}
