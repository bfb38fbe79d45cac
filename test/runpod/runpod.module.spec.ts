import "reflect-metadata";
import { Test } from "@nestjs/testing";
import { PodsClient } from "../../src/runpod/pods.client.ts";
import { RUNPOD_CONFIG, type RunpodConfig } from "../../src/runpod/runpod.config.ts";
import { RunpodModule } from "../../src/runpod/runpod.module.ts";
import { ServerlessClient } from "../../src/runpod/serverless.client.ts";
import { startRunpodSimulator } from "../support/runpod-sim/index.ts";

describe("RunpodModule", () => {
  it("provides clients configured from RUNPOD_* variables", async () => {
    const sim = await startRunpodSimulator({ apiKey: "module-key" });
    const saved = { ...process.env };
    Object.assign(process.env, {
      RUNPOD_REST_URL: sim.restUrl,
      RUNPOD_API_URL: sim.serverlessUrl,
      RUNPOD_POD_PROXY_URL: sim.podProxyTemplate,
      RUNPOD_API_KEY: "module-key",
    });
    try {
      const moduleRef = await Test.createTestingModule({ imports: [RunpodModule] }).compile();
      const config = moduleRef.get<RunpodConfig>(RUNPOD_CONFIG);
      expect(config.restUrl).toBe(sim.restUrl);
      await expect(moduleRef.get(PodsClient).listPods()).resolves.toEqual([]);
      expect((await moduleRef.get(ServerlessClient).health("kokoro")).jobs.inQueue).toBe(0);
      await moduleRef.close();
    } finally {
      for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
      Object.assign(process.env, saved);
      await sim.close();
    }
  });
});
