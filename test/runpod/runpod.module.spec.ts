import "reflect-metadata";
import { Test } from "@nestjs/testing";
import { ConfigModule } from "../../src/config/config.module.ts";
import { loadConfig } from "../../src/config/config.ts";
import { PodsClient } from "../../src/runpod/pods.client.ts";
import { RUNPOD_CONFIG, type RunpodConfig } from "../../src/runpod/runpod.config.ts";
import { RunpodModule } from "../../src/runpod/runpod.module.ts";
import { ServerlessClient } from "../../src/runpod/serverless.client.ts";
import { startRunpodSimulator } from "../support/runpod-sim/index.ts";

describe("RunpodModule", () => {
  it("provides clients configured from the app config (RUNPOD_* variables)", async () => {
    const sim = await startRunpodSimulator({ apiKey: "module-key" });
    const config = loadConfig({
      RUNPOD_REST_URL: sim.restUrl,
      RUNPOD_API_URL: sim.serverlessUrl,
      RUNPOD_POD_PROXY_URL: sim.podProxyTemplate,
      RUNPOD_API_KEY: "module-key",
    });
    try {
      const moduleRef = await Test.createTestingModule({
        imports: [ConfigModule.forRoot(config), RunpodModule],
      }).compile();
      const runpod = moduleRef.get<RunpodConfig>(RUNPOD_CONFIG);
      expect(runpod.restUrl).toBe(sim.restUrl);
      expect(runpod.podProxyTemplate).toBe(sim.podProxyTemplate);
      await expect(moduleRef.get(PodsClient).listPods()).resolves.toEqual([]);
      expect((await moduleRef.get(ServerlessClient).health("kokoro")).jobs.inQueue).toBe(0);
      await moduleRef.close();
    } finally {
      await sim.close();
    }
  });
});
