import { applyDecorators } from "@nestjs/common";
import { ApiResponse } from "@nestjs/swagger";
import { ERROR_DESCRIPTIONS, ERROR_RESPONSE_REF, type ErrorStatus } from "./error-responses.ts";

/** A status, or a status with a route-specific description (e.g. which `code` it carries). */
export type DocumentedError = ErrorStatus | [ErrorStatus, string];

/**
 * The error responses a route can give beyond the ones its guards already imply, all in the
 * OpenAI envelope: `@ApiErrors(400, 404, [409, "deployment_exists: the name is taken"])`.
 * Authentication (401/403), rate limiting (429) and shutting down (503) are added to every
 * route from its guards when the document is built (openapi-document.ts), so they are not
 * repeated here.
 */
export function ApiErrors(...errors: DocumentedError[]): MethodDecorator & ClassDecorator {
  return applyDecorators(
    ...errors.map((error) => {
      const [status, description] = Array.isArray(error) ? error : [error, undefined];
      return ApiResponse({
        status,
        description: description ?? ERROR_DESCRIPTIONS[status],
        schema: { $ref: ERROR_RESPONSE_REF },
      });
    }),
  );
}
