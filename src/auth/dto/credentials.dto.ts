import {
  ArrayMaxSize,
  ArrayNotEmpty,
  ArrayUnique,
  IsArray,
  IsEmail,
  IsIn,
  IsInt,
  IsISO8601,
  IsOptional,
  IsString,
  Length,
  Max,
  MaxLength,
  Min,
  MinLength,
} from "../../common/validators.ts";
import { Transform } from "class-transformer";
import { type Permission, PERMISSIONS } from "../principal.ts";

// Order matters: with stopAtFirstError the cheap type and length checks run before IsEmail,
// so a 10 KB "email" is refused without parsing it.

/** Surrounding whitespace is not part of an address (emails are normalised again on the way in). */
function trimString({ value }: { value: unknown }): unknown {
  return typeof value === "string" ? value.trim() : value;
}

export class SignUpDto {
  @IsEmail({}, { message: "email must be a valid email address" })
  @MaxLength(254)
  @IsString()
  @Transform(trimString)
  email!: string;

  @MaxLength(1024)
  @MinLength(8)
  @IsString()
  password!: string;
}

export class LoginDto {
  @IsEmail({}, { message: "email must be a valid email address" })
  @MaxLength(254)
  @IsString()
  @Transform(trimString)
  email!: string;

  @MaxLength(1024)
  @MinLength(1)
  @IsString()
  password!: string;
}

export class CreateApiKeyDto {
  @Length(1, 100)
  @IsString()
  name!: string;

  @ArrayUnique()
  @IsIn(PERMISSIONS as Permission[], {
    each: true,
    message: `permissions must contain only: ${PERMISSIONS.join(", ")}`,
  })
  @ArrayMaxSize(PERMISSIONS.length)
  @ArrayNotEmpty()
  @IsArray()
  permissions!: Permission[];

  /** When the key stops working (ISO 8601, in the future); absent: never. */
  @IsISO8601({ strict: true }, { message: "expires_at must be an ISO 8601 date-time" })
  @MaxLength(64)
  @IsString()
  @IsOptional()
  expires_at?: string;
}

/** The longest grace period a rotation may give the old secret: a week. */
export const MAX_ROTATION_GRACE_SECONDS = 7 * 86_400;

export class RotateApiKeyDto {
  /** Seconds the replaced secret keeps working (default 0: it stops at once). */
  @Max(MAX_ROTATION_GRACE_SECONDS)
  @Min(0)
  @IsInt()
  @IsOptional()
  grace_period_s?: number;
}

export class ChangePasswordDto {
  /** Required when the account has a password; accounts without one set their first. */
  @MaxLength(1024)
  @MinLength(1)
  @IsString()
  @IsOptional()
  current_password?: string;

  @MaxLength(1024)
  @MinLength(8)
  @IsString()
  new_password!: string;
}

export class AdminCreateAccountDto {
  @IsEmail({}, { message: "email must be a valid email address" })
  @MaxLength(254)
  @IsString()
  @Transform(trimString)
  email!: string;
}
