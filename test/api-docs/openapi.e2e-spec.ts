import { routeTable } from "../../src/app.ts";
import { startTestApp, type TestApp } from "../support/test-app.ts";

/**
 * The API reference covers the application as it is: every route the app registers (taken from
 * the app itself, so a route added tomorrow fails here until it is in the document) is listed
 * with at least one error response in the OpenAI envelope, and the document holds together.
 */

// deno-lint-ignore no-explicit-any
type Json = any;

const ERROR_REF = "#/components/schemas/ErrorResponse";
const METHODS = ["get", "put", "post", "delete", "patch", "head", "options", "trace"];

/** Fastify's pattern (`:id`, trailing `*`) as a matcher of OpenAPI paths (`{id}`, `{anything}`). */
function openApiPathMatcher(url: string): RegExp {
  const escaped = url.split("/").map((segment) => {
    if (segment === "*") return "\\{[^}/]+\\}";
    if (segment.startsWith(":")) return `\\{${segment.slice(1)}\\}`;
    return segment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  }).join("/");
  return new RegExp(`^${escaped}$`);
}

function operationsOf(document: Json): Array<{ path: string; method: string; operation: Json }> {
  return Object.entries(document.paths as Record<string, Json>).flatMap(([path, item]) =>
    METHODS.filter((method) => item[method]).map((method) => ({
      path,
      method,
      operation: item[method],
    }))
  );
}

/** Every `$ref` in the document, with where it was found. */
function refsIn(value: Json, at = "#"): Array<[string, string]> {
  if (Array.isArray(value)) return value.flatMap((item, index) => refsIn(item, `${at}/${index}`));
  if (!value || typeof value !== "object") return [];
  return Object.entries(value).flatMap(([key, child]): Array<[string, string]> =>
    key === "$ref" && typeof child === "string" ? [[at, child]] : refsIn(child, `${at}/${key}`)
  );
}

function resolvePointer(document: Json, ref: string): unknown {
  if (!ref.startsWith("#/")) return undefined;
  return ref.slice(2).split("/").map((part) => part.replace(/~1/g, "/").replace(/~0/g, "~"))
    .reduce(
      (node: Json, part) => (node && typeof node === "object" ? node[part] : undefined),
      document,
    );
}

describe("the OpenAPI document and /docs", () => {
  let app: TestApp;
  let document: Json;

  beforeAll(async () => {
    app = await startTestApp();
    const response = await fetch(`${app.url}/openapi.json`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^application\/json/);
    document = await response.json();
  });
  afterAll(async () => await app.close());

  it("says OpenAPI 3.1 and names the API", () => {
    expect(document.openapi).toMatch(/^3\.1\.\d+$/);
    expect(document.info.title).toBe("ModelPilot");
    expect(typeof document.info.version).toBe("string");
  });

  it("lists every route the application registers, each with an error response", () => {
    const routes = routeTable(app.app);
    const withGet = new Set(routes.filter((r) => r.method === "GET").map((r) => r.url));
    const operations = operationsOf(document);
    const missing: string[] = [];
    const withoutErrors: string[] = [];
    for (const route of routes) {
      // Fastify answers HEAD for every GET route by itself; the GET documents it.
      if (route.method === "HEAD" && withGet.has(route.url)) continue;
      const matcher = openApiPathMatcher(route.url);
      const found = operations.find(({ path, method }) =>
        method === route.method.toLowerCase() && matcher.test(path)
      );
      if (!found) {
        missing.push(`${route.method} ${route.url}`);
        continue;
      }
      const errors = Object.entries(found.operation.responses ?? {}).filter(([status]) =>
        /^[45]/.test(status)
      );
      if (errors.length === 0) withoutErrors.push(`${route.method} ${route.url}`);
    }
    expect(missing).toEqual([]);
    expect(withoutErrors).toEqual([]);
    expect(routes.length).toBeGreaterThan(40);
  });

  it("gives every error response the OpenAI envelope schema", () => {
    const wrong: string[] = [];
    for (const { path, method, operation } of operationsOf(document)) {
      for (
        const [status, response] of Object.entries(operation.responses as Record<string, Json>)
      ) {
        if (!/^[45]/.test(status)) continue;
        if (response.content?.["application/json"]?.schema?.$ref !== ERROR_REF) {
          wrong.push(`${method.toUpperCase()} ${path} ${status}`);
        }
      }
    }
    expect(wrong).toEqual([]);
    const envelope = document.components.schemas.ErrorResponse;
    expect(envelope.properties.error.required).toEqual(["message", "type", "param", "code"]);
  });

  it("holds together: refs resolve, path parameters are declared, operation ids are unique", () => {
    const dangling = refsIn(document).filter(([, ref]) =>
      resolvePointer(document, ref) === undefined
    );
    expect(dangling).toEqual([]);
    const problems: string[] = [];
    const ids = new Set<string>();
    for (const { path, method, operation } of operationsOf(document)) {
      const label = `${method.toUpperCase()} ${path}`;
      for (const [, name] of path.matchAll(/\{([^}]+)\}/g)) {
        const parameter = (operation.parameters ?? []).find((p: Json) =>
          p.in === "path" && p.name === name
        );
        if (!parameter?.required) problems.push(`${label}: path parameter ${name} undeclared`);
      }
      if (ids.has(operation.operationId)) problems.push(`${label}: duplicate operationId`);
      ids.add(operation.operationId);
      for (
        const [status, response] of Object.entries(operation.responses as Record<string, Json>)
      ) {
        if (typeof response.description !== "string" || response.description === "") {
          problems.push(`${label} ${status}: no description`);
        }
      }
      for (const requirement of operation.security ?? []) {
        for (const scheme of Object.keys(requirement)) {
          if (!document.components.securitySchemes?.[scheme]) {
            problems.push(`${label}: unknown security scheme ${scheme}`);
          }
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it("derives security and request schemas from the code", () => {
    const keys = document.paths["/api/keys"].post;
    expect(keys.security).toEqual([{ apiKey: [] }, { sessionCookie: [] }]);
    expect(keys["x-permission"]).toBe("manage");
    expect(keys.responses["401"]).toBeDefined();
    const schemaRef = keys.requestBody.content["application/json"].schema.$ref;
    const schema = resolvePointer(document, schemaRef) as Json;
    expect(schema.required).toEqual(expect.arrayContaining(["name", "permissions"]));
    expect(schema.properties.permissions.items.enum).toEqual(["read", "proxy", "manage"]);
    expect(schema.additionalProperties).toBe(false);
    const admin = document.paths["/admin/accounts"].post;
    expect(admin.security).toEqual([{ adminKey: [] }]);
    expect(document.paths["/health"].get.security).toBeUndefined();
    const chat = document.paths["/v1/chat/completions"].post;
    expect(chat.requestBody.content["application/json"].schema.required).toEqual(
      expect.arrayContaining(["model", "messages"]),
    );
    expect(chat.responses["200"]).toBeDefined();
  });

  it("renders /docs offline under a strict content security policy", async () => {
    const page = await fetch(`${app.url}/docs`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    const csp = page.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("default-src 'self'");
    const html = await page.text();
    // Only same-origin assets, and no inline script (the CSP would block it).
    const sources = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1]);
    expect(sources.length).toBeGreaterThan(0);
    for (const source of sources) expect(source).toMatch(/^(\/|data:)/);
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    for (const asset of sources.filter((source) => source.startsWith("/docs/"))) {
      const response = await fetch(`${app.url}${asset}`);
      expect(response.status).toBe(200);
      expect((await response.text()).length).toBeGreaterThan(100);
    }
  });
});
