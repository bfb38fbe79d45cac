import type { INestApplication } from "@nestjs/common";
import { DocumentBuilder, type OpenAPIObject, SwaggerModule } from "@nestjs/swagger";
import { readFileSync } from "node:fs";
import {
  ERROR_RESPONSE_SCHEMA,
  ERROR_RESPONSE_SCHEMA_NAME,
  errorResponse,
  type ErrorStatus,
} from "./error-responses.ts";
import { collectRouteFacts, type RouteFacts } from "./route-facts.ts";
import { type JsonSchema, schemaForValidatedClass } from "./validator-schemas.ts";

/** Security scheme names, as operations reference them. */
export const API_KEY_SCHEME = "apiKey";
export const SESSION_COOKIE_SCHEME = "sessionCookie";
export const ADMIN_KEY_SCHEME = "adminKey";

const HTTP_METHODS = ["get", "put", "post", "delete", "patch", "head", "options", "trace"];

type Operation = Record<string, any>;

/**
 * The OpenAPI 3.1 document of every controller route: @nestjs/swagger scans the controllers and
 * their `@Api…` decorators, then what Nest's own metadata already says (guards, permission,
 * throttling, success status, class-validator DTOs) fills in security, the errors those imply,
 * and request schemas, so an undecorated new route is still listed with its auth and errors.
 */
export function buildOpenApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setOpenAPIVersion("3.1.0")
    .setTitle("ModelPilot")
    .setDescription(
      "OpenAI-compatible AI gateway: the OpenAI API under `/v1` and `/api/v1`, the account API " +
        "under `/api`, and the operators' API under `/admin`. Every error is the OpenAI " +
        "envelope `ErrorResponse`; every response carries `x-request-id`.",
    )
    .setVersion(packageVersion())
    .addBearerAuth({
      type: "http",
      scheme: "bearer",
      bearerFormat: "mp_live_…",
      description: "An API key (`mp_live_…`, holding `read`, `proxy` and/or `manage`) or a " +
        "session token from signup/login (every permission of its account).",
    }, API_KEY_SCHEME)
    .addCookieAuth("mp_session", {
      type: "apiKey",
      in: "cookie",
      name: "mp_session",
      description: "The console's session cookie. Requests other than GET/HEAD/OPTIONS must " +
        "also send `X-CSRF-Token` (the `mp_csrf` cookie's value). A request with an " +
        "`Authorization` header ignores cookies.",
    }, SESSION_COOKIE_SCHEME)
    .addBearerAuth({
      type: "http",
      scheme: "bearer",
      description: "The operators' key, `ADMIN_API_KEY` (the admin API is off while it is unset).",
    }, ADMIN_KEY_SCHEME)
    .build();
  config.components = {
    ...config.components,
    schemas: { [ERROR_RESPONSE_SCHEMA_NAME]: ERROR_RESPONSE_SCHEMA as JsonSchema },
  };
  const document = SwaggerModule.createDocument(app, config);
  const facts = collectRouteFacts(app);
  for (const [path, item] of Object.entries(document.paths)) {
    for (const method of HTTP_METHODS) {
      const operation = (item as Record<string, Operation | undefined>)[method];
      if (!operation) continue;
      const routeFacts = facts.get(String(operation.operationId).replace(/\[\d+\]$/, ""));
      declarePathParameters(path, operation);
      relaxIdempotencyKey(operation);
      if (routeFacts) describeFromFacts(document, operation, routeFacts);
      for (const response of Object.values(operation.responses ?? {}) as Operation[]) {
        if (!response.description) response.description = "Success.";
      }
    }
  }
  delete document.components?.schemas?.NoBody;
  return document;
}

function describeFromFacts(document: OpenAPIObject, operation: Operation, facts: RouteFacts) {
  const errors: Array<[ErrorStatus, string?]> = [];
  if (facts.auth === "account") {
    operation.security = [{ [API_KEY_SCHEME]: [] }, { [SESSION_COOKIE_SCHEME]: [] }];
    if (facts.permission) {
      operation["x-permission"] = facts.permission;
      const named = typeof facts.permission === "string"
        ? [facts.permission]
        : [...facts.permission];
      operation.description = joinLines(
        operation.description,
        `Needs an API key with the ${
          named.map((permission) => `\`${permission}\``).join(" or ")
        } permission, or a session.`,
      );
    }
    errors.push([401], [403]);
  } else if (facts.auth === "admin") {
    operation.security = [{ [ADMIN_KEY_SCHEME]: [] }];
    errors.push([401, "Missing or wrong admin key."], [
      403,
      "`admin_api_disabled`: ADMIN_API_KEY is not set on this instance.",
    ]);
  }
  if (facts.bodyType) {
    const schema = schemaForValidatedClass(facts.bodyType);
    const name = facts.bodyType.name;
    if (schema && isEmptyObjectSchema(document.components?.schemas?.[name])) {
      document.components!.schemas![name] = schema;
    }
  }
  if (facts.takesNoBody) {
    delete operation.requestBody;
    operation.description = joinLines(
      operation.description,
      "Takes no body: any field sent is refused with a 400 naming it.",
    );
  }
  if (facts.queryType) addQueryParameters(operation, facts.queryType);
  for (const name of facts.queryNames) {
    addQueryParameter(operation, name, { type: "string" }, false);
  }
  if (operation.requestBody || facts.takesNoBody || operation.parameters?.length) {
    errors.push([400]);
  }
  if (operation.requestBody) errors.push([413]);
  if (facts.rateLimited) errors.push([429]);
  errors.push([503]);
  operation.responses ??= {};
  if (!Object.keys(operation.responses).some((status) => /^[123]/.test(status))) {
    operation.responses[String(facts.successStatus)] = { description: "Success." };
  }
  for (const [status, description] of errors) {
    // A route's own @ApiErrors description (which codes it gives) wins over the generic one.
    operation.responses[String(status)] ??= errorResponse(status, description);
  }
}

/** Nest's `*` wildcard and any `{name}` swagger left undeclared become required path parameters. */
function declarePathParameters(path: string, operation: Operation) {
  operation.parameters ??= [];
  for (const [, name] of path.matchAll(/\{([^}]+)\}/g)) {
    const declared = operation.parameters.some((parameter: Operation) =>
      parameter.in === "path" && parameter.name === name
    );
    if (!declared) {
      operation.parameters.push({
        name,
        in: "path",
        required: true,
        schema: { type: "string" },
        ...(name === "path" ? { description: "The rest of the path (may contain `/`)." } : {}),
      });
    }
  }
}

/** Swagger marks every `@Headers("name")` required; an Idempotency-Key is always optional here. */
function relaxIdempotencyKey(operation: Operation) {
  for (const parameter of operation.parameters ?? []) {
    if (parameter.in === "header" && parameter.name.toLowerCase() === "idempotency-key") {
      parameter.required = false;
      parameter.description ??= "Makes a retried request take effect once.";
    }
  }
}

function addQueryParameters(
  operation: Operation,
  queryType: Parameters<typeof schemaForValidatedClass>[0],
) {
  const schema = schemaForValidatedClass(queryType);
  if (!schema) return;
  const required = new Set<string>((schema.required as string[] | undefined) ?? []);
  for (const [name, property] of Object.entries(schema.properties)) {
    addQueryParameter(operation, name, property, required.has(name));
  }
}

/** Adds a query parameter unless swagger (or an explicit @ApiQuery) already declared it. */
function addQueryParameter(
  operation: Operation,
  name: string,
  schema: JsonSchema,
  required: boolean,
) {
  const exists = operation.parameters.some((parameter: Operation) =>
    parameter.in === "query" && parameter.name === name
  );
  if (!exists) operation.parameters.push({ name, in: "query", required, schema });
}

function isEmptyObjectSchema(schema: unknown): boolean {
  if (!schema || typeof schema !== "object") return true;
  const properties = (schema as { properties?: object }).properties;
  return !properties || Object.keys(properties).length === 0;
}

function joinLines(existing: string | undefined, line: string): string {
  return existing ? `${existing}\n\n${line}` : line;
}

let version: string | undefined;

/** The package's version (package.json sits at the root in every layout that runs src/). */
function packageVersion(): string {
  if (version === undefined) {
    try {
      const manifest = new URL("../../package.json", import.meta.url);
      version = String(JSON.parse(readFileSync(manifest, "utf8")).version ?? "0.0.0");
    } catch {
      version = "0.0.0";
    }
  }
  return version;
}
