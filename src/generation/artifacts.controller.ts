import { Controller, Get, Inject, Param, StreamableFile } from "@nestjs/common";
import { ARTIFACT_STORE, type ArtifactStore } from "../artifacts/artifact-store.ts";
import { CurrentPrincipal, RequirePermission } from "../auth/auth.decorators.ts";
import type { Principal } from "../auth/principal.ts";
import { ApiError } from "../common/api-error.ts";
import { JobQueries } from "./job.queries.ts";

/** Raw generated files, for the account that generated them only. */
@Controller("api/v1/artifacts")
@RequirePermission("proxy")
export class ArtifactsController {
  constructor(
    @Inject(JobQueries) private readonly queries: JobQueries,
    @Inject(ARTIFACT_STORE) private readonly artifacts: ArtifactStore,
  ) {}

  @Get(":id")
  async download(@CurrentPrincipal() principal: Principal, @Param("id") id: string) {
    const artifact = this.queries.artifact(id);
    // Someone else's artifact does not exist, as far as this caller can tell.
    if (!artifact || artifact.accountId !== principal.accountId) {
      throw ApiError.notFound(`No artifact '${id}'.`, "artifact_not_found", "id");
    }
    const data = await this.artifacts.get(artifact.id);
    if (!data) {
      throw ApiError.notFound(`Artifact '${id}' is no longer stored.`, "artifact_not_found", "id");
    }
    return new StreamableFile(data, {
      type: artifact.contentType,
      length: data.byteLength,
      disposition: `inline; filename="${artifact.filename.replace(/[^A-Za-z0-9_.-]/g, "_")}"`,
    });
  }
}
