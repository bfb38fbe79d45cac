import {
  ArrayMaxSize,
  ArrayNotEmpty,
  ArrayUnique,
  IsArray,
  IsEmail,
  IsIn,
  IsString,
  Length,
  MaxLength,
  MinLength,
} from "class-validator";
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
}

export class AdminCreateAccountDto {
  @IsEmail({}, { message: "email must be a valid email address" })
  @MaxLength(254)
  @IsString()
  @Transform(trimString)
  email!: string;
}
