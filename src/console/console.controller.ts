import { Controller, Get, Inject, NotFoundException, Param, Req, Res } from "@nestjs/common";
import { ApiOkResponse, ApiOperation, ApiParam, ApiProduces, ApiTags } from "@nestjs/swagger";
import type { FastifyReply, FastifyRequest } from "fastify";
import { ApiError } from "../common/api-error.ts";
import { RateLimit } from "../rate-limit/rate-limit.decorators.ts";
import {
  ASSET_NAME,
  chooseEncoding,
  type ConsoleFile,
  ConsoleFiles,
  NOT_BUILT_PAGE,
  notModified,
} from "./console-files.ts";
import { CONSOLE_PAGES } from "./console.routes.ts";
import { applySecurityHeaders } from "../common/security-headers.ts";

const PAGES: ReadonlySet<string> = new Set(CONSOLE_PAGES);

/** Hashed file names change with their content, so a browser may keep them for a year. */
const IMMUTABLE = "public, max-age=31536000, immutable";

/**
 * The web console: index.html at each of its pages (the app routes in the browser) and its
 * hashed assets. A page load is a handful of requests, so the console has its own per-IP
 * budget, ten times the default, instead of eating into the API's.
 */
@Controller()
@ApiTags("Console")
@RateLimit("console", (perMinute) => perMinute * 10)
export class ConsoleController {
  constructor(@Inject(ConsoleFiles) private readonly files: ConsoleFiles) {}

  @Get()
  @ApiOperation({ summary: "The web console (a single-page app)" })
  @ApiProduces("text/html")
  @ApiOkResponse({ description: "The console's index.html." })
  home(@Req() request: FastifyRequest, @Res() reply: FastifyReply) {
    return this.index(request, reply);
  }

  /**
   * One parametric route for every page rather than one route each: Fastify tries its static
   * routes (/health, /docs, …) first, and any other name gets the router's usual 404 envelope.
   */
  @Get(":page")
  @ApiOperation({ summary: "A page of the web console (the app routes in the browser)" })
  @ApiParam({ name: "page", enum: CONSOLE_PAGES })
  @ApiProduces("text/html")
  @ApiOkResponse({ description: "The console's index.html." })
  page(
    @Param("page") page: string,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ) {
    if (!PAGES.has(page)) throw new NotFoundException();
    return this.index(request, reply);
  }

  private index(request: FastifyRequest, reply: FastifyReply) {
    applySecurityHeaders(reply);
    const build = this.files.current();
    if (!build) {
      return reply.status(503).header("content-type", "text/html; charset=utf-8")
        .header("cache-control", "no-store").header("retry-after", "10").send(NOT_BUILT_PAGE);
    }
    // no-cache: revalidate each time, so a new build's asset names are picked up at once.
    return send(request, reply, build.index, "no-cache");
  }

  @Get("assets/*")
  @ApiOperation({ summary: "A console asset (content-hashed name)" })
  @ApiProduces("text/javascript", "text/css")
  @ApiOkResponse({ description: "The file, brotli or gzip encoded when accepted." })
  asset(@Req() request: FastifyRequest, @Res() reply: FastifyReply) {
    const path = request.url.split("?")[0];
    const name = path.slice(path.indexOf("/assets/") + "/assets/".length);
    const file = ASSET_NAME.test(name) ? this.files.current()?.assets.get(name) : undefined;
    if (!file) {
      throw ApiError.notFound(`No console asset '${name.slice(0, 200)}'.`, "asset_not_found");
    }
    applySecurityHeaders(reply);
    return send(request, reply, file, IMMUTABLE);
  }
}

function send(
  request: FastifyRequest,
  reply: FastifyReply,
  file: ConsoleFile,
  cacheControl: string,
) {
  const encoding = chooseEncoding(file, request.headers["accept-encoding"]);
  const representation = file.representations[encoding]!;
  reply.header("cache-control", cacheControl)
    .header("etag", representation.etag)
    .header("last-modified", file.lastModified)
    .header("content-type", file.contentType);
  if (file.representations.br || file.representations.gzip) reply.header("vary", "accept-encoding");
  if (encoding !== "identity") reply.header("content-encoding", encoding);
  if (notModified(request.headers["if-none-match"], representation.etag)) {
    return reply.status(304).send();
  }
  return reply.status(200).send(representation.body);
}
