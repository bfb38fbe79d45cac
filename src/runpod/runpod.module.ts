import { Global, Module } from "@nestjs/common";
import process from "node:process";
import { PodsClient } from "./pods.client.ts";
import { RUNPOD_CONFIG, type RunpodConfig, runpodConfigFromEnv } from "./runpod.config.ts";
import { ServerlessClient } from "./serverless.client.ts";

/** RunPod clients for the whole app; configuration comes from RUNPOD_* variables. */
@Global()
@Module({
  providers: [
    { provide: RUNPOD_CONFIG, useFactory: (): RunpodConfig => runpodConfigFromEnv(process.env) },
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
