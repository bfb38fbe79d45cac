import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RunpodSimulator } from "../support/runpod-sim/index.ts";
import { fundedAccount } from "../support/accounts.ts";
import { api, type TestApp } from "../support/test-app.ts";
import { gateway, simulator } from "./support/generation.ts";

/**
 * A MODELS_FILE entry written as the README shows (id, kind, endpoint, worker, price) takes its
 * capabilities and limits from its worker: an SDXL entry accepts `negative_prompt` and SDXL's
 * sizes, as the documentation gives SDXL, without restating them.
 */
describe("catalogue entries take capabilities from their worker (MODELS_FILE)", () => {
  let sim: RunpodSimulator;
  let gw: TestApp;
  let token: string;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "worker-capabilities-"));
    const file = join(dir, "models.json");
    writeFileSync(
      file,
      JSON.stringify({
        models: [
          {
            id: "my-sdxl",
            kind: "image",
            runpod_endpoint_id: "sdxl",
            worker: "sdxl",
            price_usd: 0.005,
          },
          {
            id: "my-flux",
            kind: "image",
            runpod_endpoint_id: "flux-schnell",
            worker: "flux-public",
            price_usd: 0.008,
          },
          // Stated values win over the worker's.
          {
            id: "strict-sdxl",
            kind: "image",
            runpod_endpoint_id: "sdxl",
            worker: "sdxl",
            price_usd: 0.005,
            supports_negative_prompt: false,
            limits: { max_size: 1024 },
          },
          { id: "my-wan", kind: "video", runpod_endpoint_id: "wan-t2v", price_usd: 0.3 },
        ],
      }),
    );
    sim = await simulator();
    gw = await gateway(sim, { env: { MODELS_FILE: file } });
    token = (await fundedAccount(gw.url, "capabilities@example.com", 5)).key;
  });

  afterAll(async () => {
    await gw?.close();
    await sim?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const generate = (kind: string, body: Record<string, unknown>) =>
    api(gw.url, "POST", `/api/v1/generate/${kind}`, { token, body });

  it("accepts negative_prompt and SDXL's sizes for an sdxl entry that states neither", async () => {
    const response = await generate("image", {
      model: "my-sdxl",
      prompt: "a lighthouse",
      negative_prompt: "blurry",
      width: 520,
      height: 1024,
    });
    expect(response.status).toBe(200);
    expect(sim.jobs().at(-1)!.input).toMatchObject({
      prompt: "a lighthouse",
      negative_prompt: "blurry",
      width: 520,
    });
    // SDXL's smallest side, from the worker.
    const small = await generate("image", { model: "my-sdxl", prompt: "x", width: 256 });
    expect(small.status).toBe(400);
    expect(small.body.error.param).toBe("width");
    expect(small.body.error.message).toContain("from 512 to 1536");
  });

  it("keeps refusing negative_prompt where the worker or the entry says so", async () => {
    for (const model of ["my-flux", "strict-sdxl"]) {
      const jobsBefore = sim.jobs().length;
      const response = await generate("image", { model, prompt: "x", negative_prompt: "blurry" });
      expect([model, response.status, response.body.error?.code]).toEqual([
        model,
        400,
        "unsupported_parameter",
      ]);
      expect(response.body.error.param).toBe("negative_prompt");
      expect(sim.jobs().length).toBe(jobsBefore);
    }
    const wide = await generate("image", { model: "strict-sdxl", prompt: "x", width: 1536 });
    expect(wide.status).toBe(400);
    expect(wide.body.error.message).toContain("from 512 to 1024");
  });

  it("gives a video entry without a worker the Wan worker's negative_prompt", async () => {
    const response = await generate("video", {
      model: "my-wan",
      prompt: "waves",
      negative_prompt: "text overlays",
    });
    expect(response.status).toBeLessThan(300);
    expect(sim.jobs().at(-1)!.input).toMatchObject({ negative_prompt: "text overlays" });
  });
});
