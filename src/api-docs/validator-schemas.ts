import { getMetadataStorage } from "../common/validators.ts";

/**
 * JSON Schema for a class-validator DTO, read from its decorators at run time, so a field
 * added to a DTO appears in the document without a second description to keep in step (the
 * swagger CLI plugin would need a build step; this project runs TypeScript directly).
 * Unknown decorators add nothing; the validator stays the authority on what is accepted.
 */

export interface JsonSchema {
  [keyword: string]: unknown;
}

interface Constraint {
  name?: string;
  type: string;
  propertyName: string;
  constraints?: unknown[];
  each?: boolean;
}

/** An object schema for a validated class, or undefined when it carries no validation. */
export function schemaForValidatedClass(dto: abstract new (...args: never[]) => unknown) {
  const metadata = getMetadataStorage().getTargetValidationMetadatas(
    dto,
    "",
    true,
    false,
  ) as unknown as Constraint[];
  if (metadata.length === 0) return undefined;
  const byProperty = new Map<string, Constraint[]>();
  for (const entry of metadata) {
    byProperty.set(entry.propertyName, [...(byProperty.get(entry.propertyName) ?? []), entry]);
  }
  const properties: Record<string, JsonSchema> = {};
  const required: string[] = [];
  for (const [property, constraints] of byProperty) {
    properties[property] = propertySchema(constraints);
    if (!constraints.some((entry) => entry.type === "conditionalValidation")) {
      required.push(property);
    }
  }
  return {
    type: "object",
    properties,
    ...(required.length > 0 ? { required } : {}),
    // The global ValidationPipe refuses unknown fields (whitelist + forbidNonWhitelisted).
    additionalProperties: false,
  } satisfies JsonSchema;
}

function propertySchema(constraints: Constraint[]): JsonSchema {
  const schema: JsonSchema = {};
  const items: JsonSchema = {};
  for (const constraint of constraints) {
    const target = constraint.each ? items : schema;
    Object.assign(target, keywordsFor(constraint));
  }
  if (Object.keys(items).length > 0) {
    schema.type ??= "array";
    schema.items = items;
  }
  return schema;
}

/** class-validator's built-in names (`ValidationTypes` / decorator `name`) → JSON Schema. */
function keywordsFor({ name, constraints = [] }: Constraint): JsonSchema {
  const [first, second] = constraints;
  switch (name) {
    case "isString":
      return { type: "string" };
    case "isEmail":
      return { type: "string", format: "email" };
    case "isUrl":
      return { type: "string", format: "uri" };
    case "isUuid":
    case "isUUID":
      return { type: "string", format: "uuid" };
    case "isIso8601":
    case "isISO8601":
    case "isDateString":
      return { type: "string", format: "date-time" };
    case "isInt":
      return { type: "integer" };
    case "isNumber":
      return { type: "number" };
    case "isBoolean":
      return { type: "boolean" };
    case "isArray":
      return { type: "array" };
    case "isObject":
      return { type: "object" };
    case "isIn":
      return Array.isArray(first) ? { enum: [...first] } : {};
    case "isEnum":
      return first && typeof first === "object" ? { enum: Object.values(first) } : {};
    case "minLength":
      return { minLength: first };
    case "maxLength":
      return { maxLength: first };
    case "isLength":
      return second === undefined ? { minLength: first } : { minLength: first, maxLength: second };
    case "isNotEmpty":
      return { minLength: 1 };
    case "min":
      return { minimum: first };
    case "max":
      return { maximum: first };
    case "isPositive":
      return { exclusiveMinimum: 0 };
    case "arrayNotEmpty":
      return { minItems: 1 };
    case "arrayMinSize":
      return { minItems: first };
    case "arrayMaxSize":
      return { maxItems: first };
    case "arrayUnique":
      return { uniqueItems: true };
    case "matches":
      return first instanceof RegExp ? { pattern: first.source } : {};
    default:
      return {};
  }
}
