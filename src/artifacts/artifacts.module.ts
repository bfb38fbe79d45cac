import { Module } from "@nestjs/common";
import { join } from "node:path";
import { APP_CONFIG, type AppConfig } from "../config/config.ts";
import { ARTIFACT_STORE, LocalArtifactStore } from "./artifact-store.ts";

/** The artifact store port, filled by the local directory store under DATA_DIR. */
@Module({
  providers: [{
    provide: ARTIFACT_STORE,
    inject: [APP_CONFIG],
    useFactory: (config: AppConfig) => new LocalArtifactStore(join(config.dataDir, "artifacts")),
  }],
  exports: [ARTIFACT_STORE],
})
export class ArtifactsModule {}
