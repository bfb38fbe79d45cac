import { ApiBearerAuth, ApiOperation, ApiQuery, ApiSecurity, ApiTags } from "@nestjs/swagger";
import { ApiErrors } from "../api-docs/api-docs.decorators.ts";
import {
  Controller,
  Get,
  Inject,
  Param,
  Req,
  SetMetadata,
  StreamableFile,
  UseGuards,
} from "@nestjs/common";
import { ARTIFACT_STORE, type ArtifactStore } from "../artifacts/artifact-store.ts";
import { REQUIRED_PERMISSION } from "../auth/auth.guards.ts";
import { ApiError } from "../common/api-error.ts";
import { ArtifactAccessGuard, type ArtifactRequest } from "./artifact-access.guard.ts";
import { JobQueries } from "./job.queries.ts";

/**
 * Raw generated files: for the account that generated them (API key or session with `proxy`),
 * or for anyone holding a signed, unexpired link the gateway handed out (artifact-urls.ts).
 */
@Controller("api/v1/artifacts")
@SetMetadata(REQUIRED_PERMISSION, "proxy")
@UseGuards(ArtifactAccessGuard)
@ApiTags("Generation")
@ApiBearerAuth("apiKey")
@ApiSecurity("sessionCookie")
@ApiSecurity({})
export class ArtifactsController {
  constructor(
    @Inject(JobQueries) private readonly queries: JobQueries,
    @Inject(ARTIFACT_STORE) private readonly artifacts: ArtifactStore,
  ) {}

  @Get(":id")
  @ApiOperation({
    summary: "A generated file",
    description: "For the account that generated it (`proxy` permission), or for anyone with a " +
      "signed link from a generation response (`expires` and `signature`).",
  })
  @ApiQuery({ name: "expires", required: false, description: "Signed links: unix seconds." })
  @ApiQuery({ name: "signature", required: false, description: "Signed links: base64url HMAC." })
  @ApiErrors(401, [403, "A wrong or expired signature, or a key without `proxy`."], [
    404,
    "`artifact_not_found`",
  ])
  async download(@Req() request: ArtifactRequest, @Param("id") id: string) {
    const artifact = this.queries.artifact(id);
    // A signed link names its artifact; otherwise someone else's artifact does not exist, as far
    // as this caller can tell.
    const allowed = request.signedArtifactId === id ||
      (request.principal !== undefined && artifact?.accountId === request.principal.accountId);
    if (!artifact || !allowed) {
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
