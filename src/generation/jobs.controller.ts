import { ApiOperation, ApiTags } from "@nestjs/swagger";
import { ApiErrors } from "../api-docs/api-docs.decorators.ts";
import { Body, Controller, Get, HttpCode, Inject, Param, Post, Query, Req } from "@nestjs/common";
import { CurrentPrincipal, RequirePermission } from "../auth/auth.decorators.ts";
import type { Principal } from "../auth/principal.ts";
import { ApiError } from "../common/api-error.ts";
import { parseLimit, parseOneOf, queryString } from "../common/query-params.ts";
import { NoBody } from "../common/validation.ts";
import type { OriginRequest } from "../common/public-origin.ts";
import { ArtifactLinks } from "./artifact-links.ts";
import { jobListEntry } from "./generation.responses.ts";
import { GenerationService } from "./generation.service.ts";
import { GENERATION_KINDS } from "./job.events.ts";
import { JobQueries } from "./job.queries.ts";

const STATUSES = ["processing", "completed", "failed", "cancelled"];

/** The account's generation jobs, from the job-status projection. */
@Controller("api/jobs")
@RequirePermission("read")
@ApiTags("Jobs")
export class JobsController {
  constructor(
    @Inject(JobQueries) private readonly queries: JobQueries,
    @Inject(GenerationService) private readonly generation: GenerationService,
    @Inject(ArtifactLinks) private readonly links: ArtifactLinks,
  ) {}

  @Get()
  @ApiOperation({ summary: "The account's generation jobs, newest first" })
  @ApiErrors(400)
  list(
    @CurrentPrincipal() principal: Principal,
    @Query() query: Record<string, unknown>,
    @Req() request: OriginRequest,
  ) {
    const limit = parseLimit(query.limit, { fallback: 20, max: 100 });
    const jobs = this.queries.list(principal.accountId, {
      limit: limit + 1,
      status: parseOneOf(query.status, "status", STATUSES),
      kind: parseOneOf(query.kind, "kind", GENERATION_KINDS),
      before: queryString(query.before, "before", 128),
    });
    const page = jobs.slice(0, limit);
    const link = this.links.for(request);
    return {
      object: "list",
      data: page.map((job) => jobListEntry(job, link)),
      has_more: jobs.length > limit,
      ...(jobs.length > limit ? { next_before: page[page.length - 1].id } : {}),
    };
  }

  @Get(":id")
  @ApiOperation({ summary: "One job" })
  @ApiErrors([404, "`job_not_found`"])
  show(
    @CurrentPrincipal() principal: Principal,
    @Param("id") id: string,
    @Req() request: OriginRequest,
  ) {
    const job = this.queries.findForAccount(principal.accountId, id);
    if (!job) throw ApiError.notFound(`No job '${id}'.`, "job_not_found", "id");
    return jobListEntry(job, this.links.for(request));
  }

  @Post(":id/cancel")
  @ApiOperation({ summary: "Cancel a job that has not finished" })
  @ApiErrors([404, "`job_not_found`"], [409, "`job_not_cancellable`: it has finished."])
  @HttpCode(200)
  @RequirePermission("proxy")
  async cancel(
    @CurrentPrincipal() principal: Principal,
    @Param("id") id: string,
    @Body() _body: NoBody,
    @Req() request: OriginRequest,
  ) {
    const job = await this.generation.cancel(principal, id);
    return jobListEntry(job, this.links.for(request));
  }
}
