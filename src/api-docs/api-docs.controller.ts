import { Controller, Get, Header, Inject } from "@nestjs/common";
import { ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from "@nestjs/swagger";
import { readFileSync } from "node:fs";
import { CONSOLE_CSP } from "../common/security-headers.ts";
import { ApiDocsService } from "./api-docs.service.ts";

/** The page is a shell: docs.js fetches /openapi.json and renders it (no CDN, works offline). */
const DOCS_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ModelPilot API reference</title>
<link rel="stylesheet" href="/docs/docs.css">
<link rel="icon" href="data:,">
<script type="module" src="/docs/docs.js"></script>
</head>
<body>
<main id="reference" data-spec="/openapi.json"><p>Loading the API reference…</p></main>
<noscript><p>The reference needs JavaScript; the raw document is at <a href="/openapi.json">/openapi.json</a>.</p></noscript>
</body>
</html>
`;

/** The OpenAPI document and a readable reference of it, served by the gateway itself. */
@Controller()
@ApiTags("Documentation")
export class ApiDocsController {
  constructor(@Inject(ApiDocsService) private readonly docs: ApiDocsService) {}

  @Get("openapi.json")
  @Header("content-type", "application/json; charset=utf-8")
  @Header("cache-control", "no-cache")
  @ApiOperation({ summary: "This API's OpenAPI 3.1 document" })
  @ApiOkResponse({ description: "The document.", schema: { type: "object" } })
  openApi(): string {
    return this.docs.documentJson();
  }

  @Get("docs")
  @Header("content-type", "text/html; charset=utf-8")
  @Header("cache-control", "no-cache")
  @Header("content-security-policy", CONSOLE_CSP)
  @Header("x-content-type-options", "nosniff")
  @Header("x-frame-options", "DENY")
  @Header("referrer-policy", "same-origin")
  @ApiOperation({ summary: "The API reference, rendered from /openapi.json" })
  @ApiProduces("text/html")
  @ApiOkResponse({ description: "An HTML page." })
  page(): string {
    return DOCS_PAGE;
  }

  @Get("docs/docs.js")
  @Header("content-type", "text/javascript; charset=utf-8")
  @Header("cache-control", "no-cache")
  @Header("x-content-type-options", "nosniff")
  @ApiOperation({ summary: "The reference page's script" })
  @ApiProduces("text/javascript")
  @ApiOkResponse({ description: "JavaScript." })
  script(): string {
    return asset("docs.js");
  }

  @Get("docs/docs.css")
  @Header("content-type", "text/css; charset=utf-8")
  @Header("cache-control", "no-cache")
  @Header("x-content-type-options", "nosniff")
  @ApiOperation({ summary: "The reference page's style sheet" })
  @ApiProduces("text/css")
  @ApiOkResponse({ description: "CSS." })
  style(): string {
    return asset("docs.css");
  }
}

const assets = new Map<string, string>();

/** The page's files beside this module (copied with src/ into every image). */
function asset(name: "docs.js" | "docs.css"): string {
  let text = assets.get(name);
  if (text === undefined) {
    text = readFileSync(new URL(`./docs-ui/${name}`, import.meta.url), "utf8");
    assets.set(name, text);
  }
  return text;
}
