import { ValidationPipe } from "@nestjs/common";
import type { ValidationError } from "class-validator";
import { ApiError } from "./api-error.ts";
import { classValidatorCore } from "./validators.ts";

/**
 * The global ValidationPipe: class-validator failures become one 400 envelope whose `param`
 * names the first failing field (dotted path for nested fields, e.g. `messages.0.role`).
 */
export function createValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    transform: true,
    // Unknown fields are refused on our own APIs so typos surface; OpenAI routes don't use DTOs.
    whitelist: true,
    forbidNonWhitelisted: true,
    stopAtFirstError: true,
    validationError: { target: false, value: false },
    exceptionFactory: (errors: ValidationError[]) => validationErrorToApiError(errors),
    // Left to itself the pipe imports class-validator's index and every decorator with it.
    validatorPackage: classValidatorCore,
  });
}

export function validationErrorToApiError(errors: ValidationError[]): ApiError {
  const { path, message } = firstFailure(errors, "");
  return ApiError.badRequest(
    message ?? `Invalid value for '${path}'.`,
    path || null,
    "invalid_value",
  );
}

function firstFailure(
  errors: ValidationError[],
  prefix: string,
): { path: string; message?: string } {
  for (const error of errors) {
    const path = prefix ? `${prefix}.${error.property}` : error.property;
    const constraints = error.constraints ? Object.values(error.constraints) : [];
    if (constraints.length > 0) {
      const text = constraints[0];
      if (text.includes("should not exist")) {
        return { path, message: `Unrecognized request argument supplied: ${path}` };
      }
      return { path, message: `Invalid '${path}': ${text.replace(/^\S+\s/, "")}.` };
    }
    if (error.children && error.children.length > 0) return firstFailure(error.children, path);
  }
  return { path: prefix };
}

/**
 * The body of a route that takes none (`@Body() _body: NoBody`): the global pipe's whitelist
 * refuses every field with a 400 naming it, so a body sent to the wrong route is not ignored.
 */
export class NoBody {}
