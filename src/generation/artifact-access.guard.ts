import { type CanActivate, type ExecutionContext, Inject, Injectable } from "@nestjs/common";
import { ApiKeyGuard, type AuthenticatedRequest } from "../auth/auth.guards.ts";
import { ApiError } from "../common/api-error.ts";
import { CLOCK, type Clock } from "../common/clock.ts";
import { ArtifactUrlSigner } from "./artifact-urls.ts";

export interface ArtifactRequest extends AuthenticatedRequest {
  params?: Record<string, string>;
  query?: Record<string, unknown>;
  /** Set when a valid signed link, not a credential, admitted the request. */
  signedArtifactId?: string;
}

/**
 * `GET /api/v1/artifacts/{id}`: a request carrying `expires`/`signature` is judged by the
 * signature alone (403 `invalid_signature` / `url_expired`); any other goes through the usual
 * API key / session guard, exactly as before signed links existed.
 */
@Injectable()
export class ArtifactAccessGuard implements CanActivate {
  constructor(
    @Inject(ArtifactUrlSigner) private readonly signer: ArtifactUrlSigner,
    @Inject(ApiKeyGuard) private readonly keys: ApiKeyGuard,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    const request = context.switchToHttp().getRequest<ArtifactRequest>();
    const query = request.query ?? {};
    if (query.expires === undefined && query.signature === undefined) {
      return this.keys.canActivate(context);
    }
    const id = request.params?.id ?? "";
    switch (this.signer.check(id, query.expires, query.signature, this.clock.now())) {
      case "valid":
        request.signedArtifactId = id;
        return true;
      case "expired":
        throw ApiError.forbidden(
          "This artifact link has expired. Fetch the job again for a fresh link, or send your API key.",
          "url_expired",
        );
      case "invalid":
        throw ApiError.forbidden(
          "This artifact link's signature is not valid for this artifact.",
          "invalid_signature",
        );
    }
  }
}
