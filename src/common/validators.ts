// The class-validator decorators our DTOs use, each from its own file. class-validator's index
// loads all ~100 decorators and with them validator.js whole and libphonenumber-js's metadata
// (for IsPhoneNumber): ~100 ms and ~3 MB at every start for nothing we use. Import class-validator
// through this module, never its index; add a decorator here when a DTO needs one.
// @ts-types="class-validator/types/decorator/array/ArrayMaxSize.d.ts"
export { ArrayMaxSize } from "class-validator/cjs/decorator/array/ArrayMaxSize.js";
// @ts-types="class-validator/types/decorator/array/ArrayNotEmpty.d.ts"
export { ArrayNotEmpty } from "class-validator/cjs/decorator/array/ArrayNotEmpty.js";
// @ts-types="class-validator/types/decorator/array/ArrayUnique.d.ts"
export { ArrayUnique } from "class-validator/cjs/decorator/array/ArrayUnique.js";
// @ts-types="class-validator/types/decorator/common/IsIn.d.ts"
export { IsIn } from "class-validator/cjs/decorator/common/IsIn.js";
// @ts-types="class-validator/types/decorator/common/IsNotEmpty.d.ts"
export { IsNotEmpty } from "class-validator/cjs/decorator/common/IsNotEmpty.js";
// @ts-types="class-validator/types/decorator/common/IsOptional.d.ts"
export { IsOptional } from "class-validator/cjs/decorator/common/IsOptional.js";
// @ts-types="class-validator/types/decorator/number/Max.d.ts"
export { Max } from "class-validator/cjs/decorator/number/Max.js";
// @ts-types="class-validator/types/decorator/number/Min.d.ts"
export { Min } from "class-validator/cjs/decorator/number/Min.js";
// @ts-types="class-validator/types/decorator/string/IsEmail.d.ts"
export { IsEmail } from "class-validator/cjs/decorator/string/IsEmail.js";
// @ts-types="class-validator/types/decorator/string/IsISO8601.d.ts"
export { IsISO8601, isISO8601 } from "class-validator/cjs/decorator/string/IsISO8601.js";
// @ts-types="class-validator/types/decorator/string/Length.d.ts"
export { Length } from "class-validator/cjs/decorator/string/Length.js";
// @ts-types="class-validator/types/decorator/string/MaxLength.d.ts"
export { MaxLength } from "class-validator/cjs/decorator/string/MaxLength.js";
// @ts-types="class-validator/types/decorator/string/MinLength.d.ts"
export { MinLength } from "class-validator/cjs/decorator/string/MinLength.js";
// @ts-types="class-validator/types/decorator/typechecker/IsArray.d.ts"
export { IsArray } from "class-validator/cjs/decorator/typechecker/IsArray.js";
// @ts-types="class-validator/types/decorator/typechecker/IsInt.d.ts"
export { IsInt } from "class-validator/cjs/decorator/typechecker/IsInt.js";
// @ts-types="class-validator/types/decorator/typechecker/IsNumber.d.ts"
export { IsNumber } from "class-validator/cjs/decorator/typechecker/IsNumber.js";
// @ts-types="class-validator/types/decorator/typechecker/IsString.d.ts"
export { IsString } from "class-validator/cjs/decorator/typechecker/IsString.js";
// @ts-types="class-validator/types/metadata/MetadataStorage.d.ts"
import { getMetadataStorage } from "class-validator/cjs/metadata/MetadataStorage.js";
// @ts-types="class-validator/types/container.d.ts"
import { getFromContainer } from "class-validator/cjs/container.js";
// @ts-types="class-validator/types/validation/Validator.d.ts"
import { Validator } from "class-validator/cjs/validation/Validator.js";
import type { ValidationError, ValidatorOptions } from "class-validator";

export { getMetadataStorage };

/**
 * What Nest's ValidationPipe uses of class-validator, handed to it as `validatorPackage` so the
 * pipe does not import the index itself. The metadata storage is class-validator's global one,
 * the same the decorators above write to.
 */
export const classValidatorCore = {
  validate: (object: object, options?: ValidatorOptions): Promise<ValidationError[]> =>
    getFromContainer(Validator).validate(object, options),
  getMetadataStorage,
};
