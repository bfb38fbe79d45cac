import { Module } from "@nestjs/common";
import { APP_CONFIG, type AppConfig } from "../config/config.ts";
import { PodsClient } from "./pods.client.ts";
import { RUNPOD_CONFIG, type RunpodConfig } from "./runpod.config.ts";
import { ServerlessClient } from "./serverless.client.ts";

/** The RunPod clients' settings, from the one validated AppConfig. */
export function runpodConfigFromApp(config: AppConfig): RunpodConfig {
  return {
    restUrl: config.runpodRestUrl.replace(/\/+$/, ""),
    apiUrl: config.runpodApiUrl.replace(/\/+$/, ""),
    podProxyTemplate: config.runpodPodProxyUrl.replace(/\/+$/, ""),
    apiKey: config.runpodApiKey,
    requestTimeoutMs: config.runpodTimeoutMs,
    maxRetries: config.runpodMaxRetries,
  };
}

/** RunPod's pod and serverless clients, for deployments and generation. */
@Module({
  providers: [
    { provide: RUNPOD_CONFIG, inject: [APP_CONFIG], useFactory: runpodConfigFromApp },
    {
      provide: PodsClient,
      useFactory: (config: RunpodConfig) => new PodsClient(config),
      inject: [RUNPOD_CONFIG],
    },
    {
      provide: ServerlessClient,
      useFactory: (config: RunpodConfig) => new ServerlessClient(config),
      inject: [RUNPOD_CONFIG],
    },
  ],
  exports: [RUNPOD_CONFIG, PodsClient, ServerlessClient],
})
export class RunpodModule {}
