import { Buffer } from "node:buffer";
import { ServerlessClient } from "../../src/runpod/serverless.client.ts";
import { parseMp4, parsePng, parseWav } from "../support/media.ts";
import { encodeMp4, encodePng, encodeWav } from "../support/runpod-sim/media-encode.ts";
import { type RunpodSimulator, startRunpodSimulator } from "../support/runpod-sim/index.ts";

describe("worker outputs are real media files", () => {
  let sim: RunpodSimulator;
  let client: ServerlessClient;

  beforeAll(async () => {
    sim = await startRunpodSimulator({ coldStartMs: 0, executionMs: 10 });
    client = new ServerlessClient({
      restUrl: sim.restUrl,
      apiUrl: sim.serverlessUrl,
      podProxyTemplate: sim.podProxyTemplate,
      requestTimeoutMs: 5000,
      maxRetries: 0,
    });
  });
  afterAll(() => sim.close());

  const output = async (endpoint: string, input: unknown): Promise<any> => {
    const job = await client.runSync(endpoint, input, { waitMs: 5000 });
    expect(job.status).toBe("COMPLETED");
    return job.output;
  };

  it("flux-schnell returns an image URL served by the simulator", async () => {
    const out = await output("flux-schnell", { prompt: "a fox", width: 320, height: 256 });
    expect(out.cost).toBeCloseTo(0.0024 * 320 * 256 / 1e6, 6);
    const response = await fetch(out.image_url);
    expect(response.headers.get("content-type")).toBe("image/png");
    expect(parsePng(new Uint8Array(await response.arrayBuffer()))).toMatchObject({
      width: 320,
      height: 256,
    });
  });

  it("sdxl returns data-URI PNGs and the seed", async () => {
    const out = await output("sdxl", {
      prompt: "a cat",
      width: 128,
      height: 64,
      seed: 7,
      num_images: 2,
    });
    expect(out.seed).toBe(7);
    expect(out.images).toHaveLength(2);
    expect(out.image_url).toBe(out.images[0]);
    const png = Buffer.from(out.images[1].replace(/^data:image\/png;base64,/, ""), "base64");
    expect(parsePng(png)).toMatchObject({ width: 128, height: 64 });
  });

  it("comfyui returns base64 images sized by the workflow's latent", async () => {
    const workflow = {
      "3": { class_type: "KSampler", inputs: { seed: 5 } },
      "5": { class_type: "EmptyLatentImage", inputs: { width: 96, height: 48, batch_size: 1 } },
    };
    const out = await output("flux-dev", { workflow });
    expect(out.images[0]).toMatchObject({ filename: "ComfyUI_00001_.png", type: "base64" });
    expect(parsePng(Buffer.from(out.images[0].data, "base64"))).toMatchObject({
      width: 96,
      height: 48,
    });
    const failed = await client.runSync("flux-dev", { prompt: "no workflow" }, { waitMs: 5000 });
    expect(failed).toMatchObject({ status: "FAILED", error: "Missing 'workflow' parameter" });
  });

  it("kokoro returns a 24 kHz mono WAV whose length follows text length and speed", async () => {
    const short = await output("kokoro", { text: "Hello there, welcome.", voice: "af_heart" });
    const long = await output("kokoro", {
      text: "Hello there, welcome. ".repeat(4),
      voice: "af_heart",
    });
    const fast = await output("kokoro", { text: "Hello there, welcome. ".repeat(4), speed: 2 });
    expect(short.sample_rate).toBe(24000);
    const a = parseWav(Buffer.from(short.audio_base64, "base64"));
    const b = parseWav(Buffer.from(long.audio_base64, "base64"));
    const c = parseWav(Buffer.from(fast.audio_base64, "base64"));
    expect(a).toMatchObject({ sampleRate: 24000, channels: 1, bitsPerSample: 16 });
    expect(b.durationSeconds / a.durationSeconds).toBeGreaterThan(3.5);
    expect(c.durationSeconds).toBeCloseTo(b.durationSeconds / 2, 2);
  });

  it("wan-t2v returns an MP4 URL whose file lasts the requested seconds", async () => {
    const out = await output("wan-t2v", { prompt: "sunset", duration: 3, size: "640*360" });
    expect(out.cost).toBeCloseTo(0.3, 5);
    const response = await fetch(out.video_url);
    expect(response.headers.get("content-type")).toBe("video/mp4");
    const info = parseMp4(new Uint8Array(await response.arrayBuffer()));
    expect(info.brands).toContain("isom");
    expect(info.topLevelBoxes).toEqual(["ftyp", "moov", "mdat"]);
    expect(info.durationSeconds).toBe(3);
  });

  it("validators reject corrupt files", () => {
    const png = encodePng(4, 4, 1);
    png[png.length - 20] ^= 0xff;
    expect(() => parsePng(png)).toThrow();
    expect(() => parseWav(encodeWav(0.1).subarray(0, 30))).toThrow();
    expect(() => parseMp4(encodeMp4(1).subarray(0, 40))).toThrow();
    expect(() => parsePng(Buffer.from("not a png"))).toThrow("not a PNG");
  });
});
