import type { RunpodSimulator } from "../support/runpod-sim/index.ts";
import { createAccountWithKey, createApiKey, fundedAccount } from "../support/accounts.ts";
import { api, type TestApp } from "../support/test-app.ts";
import { balance, gateway, simulator } from "./support/generation.ts";

describe("generation request validation", () => {
  let sim: RunpodSimulator;
  let gw: TestApp;
  let token: string;

  beforeAll(async () => {
    sim = await simulator();
    gw = await gateway(sim);
    token = (await fundedAccount(gw.url, "validation@example.com", 1)).key;
  });

  afterAll(async () => {
    await gw?.close();
    await sim?.close();
  });

  const refuses =
    (kind: string, body: unknown, status: number, param: string | null, code?: string) =>
    async () => {
      const jobsBefore = sim.jobs().length;
      const response = await api(gw.url, "POST", `/api/v1/generate/${kind}`, { token, body });
      expect(response.status).toBe(status);
      expect(response.body.error).toMatchObject({
        type: "invalid_request_error",
        param,
        ...(code ? { code } : {}),
        message: expect.any(String),
      });
      // Nothing reached RunPod and nothing is held.
      expect(sim.jobs().length).toBe(jobsBefore);
    };

  const image = (extra: Record<string, unknown>) => ({
    model: "flux-dev",
    prompt: "a cat",
    ...extra,
  });
  const audio = (extra: Record<string, unknown>) => ({ model: "kokoro", text: "hello", ...extra });

  describe("image", () => {
    it(
      "refuses a missing prompt",
      refuses("image", { model: "flux-dev" }, 400, "prompt", "missing_required_parameter"),
    );
    it("refuses an empty prompt", refuses("image", image({ prompt: "  " }), 400, "prompt"));
    it(
      "refuses a width that is not a multiple of 64",
      refuses("image", image({ width: 1000 }), 400, "width"),
    );
    it("refuses a width under 256", refuses("image", image({ width: 192 }), 400, "width"));
    it("refuses a height over 1536", refuses("image", image({ height: 1600 }), 400, "height"));
    it("refuses a non-integer height", refuses("image", image({ height: "512" }), 400, "height"));
    it(
      "applies the model's own limits (sdxl: multiples of 8 from 512)",
      refuses("image", { model: "sdxl", prompt: "x", width: 504 }, 400, "width"),
    );
    it(
      "refuses negative_prompt for flux models, naming the param",
      refuses(
        "image",
        image({ negative_prompt: "blurry" }),
        400,
        "negative_prompt",
        "unsupported_parameter",
      ),
    );
    it("refuses steps of 0", refuses("image", image({ steps: 0 }), 400, "steps"));
    it(
      "refuses more steps than flux-schnell's worker takes",
      refuses("image", { model: "flux-schnell", prompt: "x", steps: 9 }, 400, "steps"),
    );
    it("refuses a negative seed", refuses("image", image({ seed: -5 }), 400, "seed"));
    it("refuses a fractional seed", refuses("image", image({ seed: 1.5 }), 400, "seed"));
    it(
      "refuses unknown parameters",
      refuses("image", image({ style: "anime" }), 400, "style", "unknown_parameter"),
    );

    it("accepts negative_prompt, steps and seed for sdxl and zimage, and a 1792 zimage", async () => {
      const sdxl = await api(gw.url, "POST", "/api/v1/generate/image", {
        token,
        body: {
          model: "sdxl",
          prompt: "x",
          negative_prompt: "blurry",
          steps: 12,
          seed: 3,
          width: 520,
          height: 512,
        },
      });
      expect(sdxl.status).toBe(200);
      const input = sim.jobs().at(-1)!.input;
      expect(input).toMatchObject({
        negative_prompt: "blurry",
        num_inference_steps: 12,
        seed: 3,
        width: 520,
      });
      const zimage = await api(gw.url, "POST", "/api/v1/generate/image", {
        token,
        body: { model: "zimage", prompt: "x", negative_prompt: "blurry", width: 1792, height: 256 },
      });
      expect(zimage.status).toBe(200);
      const workflow = (sim.jobs().at(-1)!.input as any).workflow;
      expect(
        Object.values<any>(workflow).find((node) => node.class_type === "EmptyLatentImage").inputs,
      )
        .toMatchObject({ width: 1792, height: 256 });
    });
  });

  describe("audio", () => {
    it("refuses a missing text", refuses("audio", { model: "kokoro" }, 400, "text"));
    it(
      "refuses text over 5,000 characters",
      refuses("audio", audio({ text: "a".repeat(5001) }), 400, "text"),
    );
    it("refuses a speed under 0.5", refuses("audio", audio({ speed: 0.4 }), 400, "speed"));
    it("refuses a speed over 2.0", refuses("audio", audio({ speed: 2.01 }), 400, "speed"));
    it(
      "refuses a speed that is not a number",
      refuses("audio", audio({ speed: "fast" }), 400, "speed"),
    );
    it("refuses a malformed voice", refuses("audio", audio({ voice: "../etc" }), 400, "voice"));
    it(
      "refuses negative_prompt on audio",
      refuses("audio", audio({ negative_prompt: "x" }), 400, "negative_prompt"),
    );

    it("accepts exactly 5,000 characters at the speed limits", async () => {
      const response = await api(gw.url, "POST", "/api/v1/generate/audio", {
        token,
        body: audio({ text: "b".repeat(5000), speed: 2.0 }),
      });
      expect(response.status).toBe(200);
    });
  });

  describe("video and text", () => {
    it("refuses a video without prompt", refuses("video", { model: "wan-t2v" }, 400, "prompt"));
    it(
      "refuses a video duration out of range",
      refuses("video", { model: "wan-t2v", prompt: "x", duration: 60 }, 400, "duration"),
    );
    it(
      "refuses a malformed video size",
      refuses("video", { model: "wan-t2v", prompt: "x", size: "big" }, 400, "size"),
    );
    it("refuses a text job without prompt", refuses("text", { model: "qwen3-8b" }, 400, "prompt"));
    it(
      "refuses a temperature over 2",
      refuses("text", { model: "qwen3-8b", prompt: "x", temperature: 3 }, 400, "temperature"),
    );
    it(
      "refuses a flat-price text job asking for more than the model's max_tokens",
      refuses("text", { model: "qwen3-8b", prompt: "x", max_tokens: 4097 }, 400, "max_tokens"),
    );
  });

  describe("models", () => {
    it(
      "answers 404 model_not_found for an unknown model",
      refuses("image", { model: "dall-e-9", prompt: "x" }, 404, "model", "model_not_found"),
    );
    it(
      "answers 400 invalid_model_type for a model of another kind",
      refuses("image", { model: "kokoro", prompt: "x" }, 400, "model", "invalid_model_type"),
    );
    it(
      "refuses a text model on the audio endpoint",
      refuses("audio", { model: "qwen3-8b", text: "x" }, 400, "model", "invalid_model_type"),
    );
    it(
      "refuses a missing model",
      refuses("video", { prompt: "x" }, 400, "model", "missing_required_parameter"),
    );
    it("refuses a body that is not an object", refuses("image", [1, 2], 400, null));
  });

  describe("access and credits", () => {
    it("needs an API key", async () => {
      const response = await api(gw.url, "POST", "/api/v1/generate/image", { body: image({}) });
      expect(response.status).toBe(401);
      expect(response.body.error).toBeDefined();
    });

    it("needs the proxy permission", async () => {
      const { accountId } = await createAccountWithKey(gw.url, "readonly@example.com");
      const readOnly = await createApiKey(gw.url, accountId, {
        name: "read only",
        permissions: ["read"],
      });
      const response = await api(gw.url, "POST", "/api/v1/generate/image", {
        token: readOnly,
        body: image({}),
      });
      expect(response.status).toBe(403);
    });

    it("answers 402 without credits and submits nothing", async () => {
      const broke = await fundedAccount(gw.url, "broke@example.com", 0);
      const jobsBefore = sim.jobs().length;
      const response = await api(gw.url, "POST", "/api/v1/generate/video", {
        token: broke.key,
        body: { model: "wan-t2v", prompt: "x" },
      });
      expect(response.status).toBe(402);
      expect(response.body.error.code).toBe("insufficient_credits");
      expect(sim.jobs().length).toBe(jobsBefore);
      expect(await balance(gw.url, broke.key)).toMatchObject({ balance_usd: 0, available_usd: 0 });
    });
  });
});
