import { IsNumber, Max, Min } from "../../common/validators.ts";

export class CheckoutDto {
  /** Whole cents, from $5. */
  @IsNumber({ allowNaN: false, allowInfinity: false, maxDecimalPlaces: 2 })
  @Min(5)
  @Max(10_000)
  amount_usd!: number;
}
