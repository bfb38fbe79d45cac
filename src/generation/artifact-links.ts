import { Inject, Injectable } from "@nestjs/common";
import { CLOCK, type Clock } from "../common/clock.ts";
import { type OriginRequest, publicOrigin } from "../common/public-origin.ts";
import { APP_CONFIG, type AppConfig } from "../config/config.ts";
import { ArtifactUrlSigner } from "./artifact-urls.ts";
import type { ArtifactLink } from "./generation.responses.ts";

/** Absolute signed artifact links on the origin the request came in at (or PUBLIC_BASE_URL). */
@Injectable()
export class ArtifactLinks {
  constructor(
    @Inject(ArtifactUrlSigner) private readonly signer: ArtifactUrlSigner,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  for(request: OriginRequest): ArtifactLink {
    const origin = publicOrigin(request, this.config);
    const now = this.clock.now();
    return (artifactId) => `${origin}${this.signer.signedPath(artifactId, now)}`;
  }
}
