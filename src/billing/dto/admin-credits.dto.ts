import { IsNotEmpty, IsNumber, IsString, Max, MaxLength, Min } from "../../common/validators.ts";

export class AdminCreditsDto {
  /** Positive adds credits; negative is a correction (refused if it would overdraw). */
  @IsNumber({ allowNaN: false, allowInfinity: false, maxDecimalPlaces: 6 })
  @Min(-1_000_000)
  @Max(1_000_000)
  amount_usd!: number;

  @IsString()
  @IsNotEmpty()
  @MaxLength(500)
  reason!: string;
}
