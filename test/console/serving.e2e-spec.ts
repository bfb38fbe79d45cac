import { Buffer } from "node:buffer";
import { request } from "node:http";
import { brotliDecompressSync, gunzipSync } from "node:zlib";
import { CONSOLE_CSP } from "../../src/common/security-headers.ts";
import { isEnvelope, parseJson } from "../support/raw-http.ts";
import { startTestApp, type TestApp } from "../support/test-app.ts";

/**
 * How the gateway serves the web console (console/dist, built by jest's global setup when
 * missing): the page at every console path, hashed assets cached for a year, the strict CSP,
 * and nothing else changed: API 404s keep their envelope and no path escapes console/dist.
 */

interface Raw {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** node:http sends the path byte for byte (fetch would normalise `..` away). */
function raw(
  app: TestApp,
  method: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<Raw> {
  const url = new URL(app.url);
  return new Promise((resolve, reject) => {
    const outgoing = request(
      { host: url.hostname, port: url.port, method, path, headers },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () =>
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            body: Buffer.concat(chunks),
          }));
        response.on("error", reject);
      },
    );
    outgoing.on("error", reject);
    outgoing.end();
  });
}

const PAGES = [
  "/",
  "/login",
  "/signup",
  "/overview",
  "/keys",
  "/billing",
  "/deployments",
  "/playground",
  "/jobs",
  "/settings",
  "/admin",
];

function expectSecurityHeaders(response: Raw) {
  expect(response.headers["content-security-policy"]).toBe(CONSOLE_CSP);
  expect(response.headers["x-content-type-options"]).toBe("nosniff");
  expect(response.headers["referrer-policy"]).toBe("same-origin");
  expect(response.headers["x-frame-options"]).toBe("DENY");
}

describe("serving the web console", () => {
  let app: TestApp;
  let index: Raw;
  let scriptPath: string;

  beforeAll(async () => {
    app = await startTestApp();
    index = await raw(app, "GET", "/");
    scriptPath = /<script type="module" crossorigin src="(\/assets\/[^"]+\.js)"/
      .exec(index.body.toString())?.[1] ?? "";
  });
  afterAll(async () => await app?.close());

  it("answers every console path with the same index.html, revalidated on each visit", async () => {
    expect(index.status).toBe(200);
    expect(index.headers["content-type"]).toBe("text/html; charset=utf-8");
    expect(index.body.toString()).toContain('<div id="app"></div>');
    expect(scriptPath).toMatch(/^\/assets\/index-[\w-]+\.js$/);
    for (const path of [...PAGES, "/billing?checkout=success", "/login?error=access_denied"]) {
      const page = await raw(app, "GET", path);
      expect([path, page.status]).toEqual([path, 200]);
      expect(page.body.equals(index.body)).toBe(true);
      expect(page.headers["cache-control"]).toBe("no-cache");
      expect(page.headers.etag).toBe(index.headers.etag);
      expect(page.headers["last-modified"]).toBeTruthy();
      expectSecurityHeaders(page);
    }
  });

  it("sends the strict policy: no inline script or style, nothing from another origin", () => {
    expectSecurityHeaders(index);
    expect(CONSOLE_CSP).toBe(
      "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
        "media-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; " +
        "form-action 'self'",
    );
    // The policy would block these, so the build must not contain them.
    const html = index.body.toString();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(html).not.toMatch(/<style|\sstyle=/);
  });

  it("serves hashed assets for a year with their type, an ETag and a 304 on revalidation", async () => {
    const asset = await raw(app, "GET", scriptPath);
    expect(asset.status).toBe(200);
    expect(asset.headers["content-type"]).toBe("text/javascript; charset=utf-8");
    expect(asset.headers["cache-control"]).toBe("public, max-age=31536000, immutable");
    expect(asset.headers["content-encoding"]).toBeUndefined();
    expect(asset.headers.vary).toMatch(/accept-encoding/i);
    expectSecurityHeaders(asset);
    const etag = String(asset.headers.etag);
    expect(etag).toMatch(/^"[\w-]+"$/);

    const again = await raw(app, "GET", scriptPath, { "if-none-match": etag });
    expect(again.status).toBe(304);
    expect(again.body.length).toBe(0);
    const page = await raw(app, "GET", "/keys", { "if-none-match": String(index.headers.etag) });
    expect(page.status).toBe(304);

    const stylePath = /href="(\/assets\/[^"]+\.css)"/.exec(index.body.toString())?.[1];
    expect(stylePath).toBeDefined();
    const style = await raw(app, "GET", stylePath!);
    expect(style.headers["content-type"]).toBe("text/css; charset=utf-8");
  });

  it("sends brotli or gzip when the client accepts it, the same bytes once decoded", async () => {
    const plain = await raw(app, "GET", scriptPath);
    const brotli = await raw(app, "GET", scriptPath, { "accept-encoding": "gzip, deflate, br" });
    expect(brotli.headers["content-encoding"]).toBe("br");
    expect(brotliDecompressSync(brotli.body).equals(plain.body)).toBe(true);
    expect(brotli.body.length).toBeLessThan(plain.body.length / 2);
    expect(brotli.headers.etag).not.toBe(plain.headers.etag);

    const gzip = await raw(app, "GET", scriptPath, { "accept-encoding": "gzip, br;q=0" });
    expect(gzip.headers["content-encoding"]).toBe("gzip");
    expect(gunzipSync(gzip.body).equals(plain.body)).toBe(true);

    const refused = await raw(app, "GET", scriptPath, { "accept-encoding": "br;q=0, gzip;q=0" });
    expect(refused.headers["content-encoding"]).toBeUndefined();
    expect(refused.body.equals(plain.body)).toBe(true);
  });

  it("answers HEAD like GET without a body", async () => {
    const head = await raw(app, "HEAD", "/overview");
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    expect(head.headers["content-security-policy"]).toBe(CONSOLE_CSP);
  });

  it("never serves a file outside the build, whatever the path says", async () => {
    const attempts = [
      "/assets/../package.json",
      "/assets/..%2f..%2fpackage.json",
      "/assets/%2e%2e%2f%2e%2e%2fpackage.json",
      "/assets/..%5c..%5cpackage.json",
      "/assets/%2e%2e/%2e%2e/src/main.ts",
      "/assets/....//....//package.json",
      "/assets/.%00.%2fpackage.json",
      "/assets/",
      "/assets/index.html",
      "/assets/../index.html",
      `/assets/${"a".repeat(300)}.js`,
      `${scriptPath}.br`,
      `${scriptPath}/`,
    ];
    for (const path of attempts) {
      const response = await raw(app, "GET", path);
      expect([path, response.status]).toEqual([path, 404]);
      expect(isEnvelope(parseJson(response.body.toString()))).toBe(true);
      expect(response.body.toString()).not.toContain('"devDependencies"');
    }
    // A malformed escape is the router's own 400, in the envelope too.
    const malformed = await raw(app, "GET", "/assets/%E0%A4%A");
    expect(malformed.status).toBe(400);
    expect(isEnvelope(parseJson(malformed.body.toString()))).toBe(true);
  });

  it("leaves the API's own 404s and routes as they were", async () => {
    const unknown = [
      ["GET", "/api/nope"],
      ["GET", "/v1/nope"],
      ["GET", "/admin/nope"],
      ["GET", "/overview/deeper"],
      ["GET", "/keys/"],
      ["GET", "/nope"],
      ["POST", "/overview"],
      ["DELETE", "/"],
      ["PUT", "/assets/x.js"],
    ];
    for (const [method, path] of unknown) {
      const response = await raw(app, method, path);
      expect([method, path, response.status]).toEqual([method, path, 404]);
      const body = parseJson(response.body.toString()) as any;
      expect(isEnvelope(body)).toBe(true);
      expect(body.error.code).toBe("unknown_url");
      expect(response.headers["content-security-policy"]).toBeUndefined();
    }
    const health = await raw(app, "GET", "/health");
    expect(health.status).toBe(200);
    expect(health.headers["content-type"]).toMatch(/^application\/json/);
    const models = await raw(app, "GET", "/v1/models");
    expect(models.status).toBe(401);
    expect(isEnvelope(parseJson(models.body.toString()))).toBe(true);
  });
});
