import { Body, Controller, Get, HttpCode, Inject, Param, Post, Query } from "@nestjs/common";
import { CurrentPrincipal, RequirePermission } from "../auth/auth.decorators.ts";
import type { Principal } from "../auth/principal.ts";
import { ApiError } from "../common/api-error.ts";
import { parseLimit, parseOneOf, queryString } from "../common/query-params.ts";
import { NoBody } from "../common/validation.ts";
import { APP_CONFIG, type AppConfig } from "../config/config.ts";
import { jobListEntry } from "./generation.responses.ts";
import { GenerationService } from "./generation.service.ts";
import { GENERATION_KINDS } from "./job.events.ts";
import { JobQueries } from "./job.queries.ts";

const STATUSES = ["processing", "completed", "failed", "cancelled"];

/** The account's generation jobs, from the job-status projection. */
@Controller("api/jobs")
@RequirePermission("read")
export class JobsController {
  constructor(
    @Inject(JobQueries) private readonly queries: JobQueries,
    @Inject(GenerationService) private readonly generation: GenerationService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Get()
  list(
    @CurrentPrincipal() principal: Principal,
    @Query() query: Record<string, unknown>,
  ) {
    const limit = parseLimit(query.limit, { fallback: 20, max: 100 });
    const jobs = this.queries.list(principal.accountId, {
      limit: limit + 1,
      status: parseOneOf(query.status, "status", STATUSES),
      kind: parseOneOf(query.kind, "kind", GENERATION_KINDS),
      before: queryString(query.before, "before", 128),
    });
    const page = jobs.slice(0, limit);
    return {
      object: "list",
      data: page.map((job) => jobListEntry(job, this.config.publicBaseUrl)),
      has_more: jobs.length > limit,
      ...(jobs.length > limit ? { next_before: page[page.length - 1].id } : {}),
    };
  }

  @Get(":id")
  show(@CurrentPrincipal() principal: Principal, @Param("id") id: string) {
    const job = this.queries.findForAccount(principal.accountId, id);
    if (!job) throw ApiError.notFound(`No job '${id}'.`, "job_not_found", "id");
    return jobListEntry(job, this.config.publicBaseUrl);
  }

  @Post(":id/cancel")
  @HttpCode(200)
  @RequirePermission("proxy")
  async cancel(
    @CurrentPrincipal() principal: Principal,
    @Param("id") id: string,
    @Body() _body: NoBody,
  ) {
    const job = await this.generation.cancel(principal, id);
    return jobListEntry(job, this.config.publicBaseUrl);
  }
}
