import { IsNotEmpty, IsNumber, IsString, MaxLength } from "class-validator";

export class AdminCreditsDto {
  /** Positive adds credits; negative is a correction (refused if it would overdraw). */
  @IsNumber({ allowNaN: false, allowInfinity: false, maxDecimalPlaces: 6 })
  amount_usd!: number;

  @IsString()
  @IsNotEmpty()
  @MaxLength(500)
  reason!: string;
}
