import { ApiError } from "../common/api-error.ts";

/** What clients pass as `model` to reach a deployment; the same rule for pods and external servers. */
export const DEPLOYMENT_NAME = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$/;

/**
 * A string field of a `POST /api/deployments` body, trimmed; a 400 naming the field when it is
 * missing (and required) or not a non-empty string.
 */
export function textField(
  body: Record<string, unknown>,
  field: string,
  required: true,
): string;
export function textField(
  body: Record<string, unknown>,
  field: string,
  required: false,
): string | undefined;
export function textField(
  body: Record<string, unknown>,
  field: string,
  required: boolean,
): string | undefined {
  const value = body[field];
  if (value === undefined || value === null) {
    if (required) {
      throw ApiError.badRequest(
        `Missing required parameter: '${field}'.`,
        field,
        "missing_required_parameter",
      );
    }
    return undefined;
  }
  if (typeof value !== "string" || value.trim() === "") {
    throw ApiError.badRequest(
      `Invalid '${field}': expected a non-empty string.`,
      field,
      "invalid_type",
    );
  }
  return value.trim();
}

/** Refuses a deployment name clients could not pass as `model`. */
export function checkDeploymentName(name: string): string {
  if (!DEPLOYMENT_NAME.test(name)) {
    throw ApiError.badRequest(
      "Invalid 'name': use 1-128 letters, digits and . _ : / - (starting with a letter or digit).",
      "name",
      "invalid_value",
    );
  }
  return name;
}
