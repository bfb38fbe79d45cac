import { BUILT_IN_MODELS } from "../catalogue/catalogue.ts";
import type { GenerationRequest } from "./generation.request.ts";
import { WORKER_FORMATS, WorkerOutputError } from "./worker-formats.ts";

const image: GenerationRequest = {
  kind: "image",
  model: "m",
  prompt: "a fox",
  width: 512,
  height: 768,
  negativePrompt: "blur",
  steps: 4,
  seed: 9,
};
const model = BUILT_IN_MODELS[0];

describe("worker formats (runpod-api.md 4)", () => {
  it("builds a ComfyUI API workflow carrying size, seed, steps and prompts", () => {
    const input = WORKER_FORMATS["comfyui-image"].toInput(image, model) as {
      workflow: Record<string, any>;
    };
    const nodes = Object.values(input.workflow);
    expect(nodes.find((node) => node.class_type === "EmptyLatentImage").inputs).toMatchObject({
      width: 512,
      height: 768,
      batch_size: 1,
    });
    expect(nodes.find((node) => node.class_type === "KSampler").inputs).toMatchObject({
      seed: 9,
      steps: 4,
    });
    expect(
      nodes.filter((node) => node.class_type === "CLIPTextEncode").map((node) => node.inputs.text),
    )
      .toEqual(["a fox", "blur"]);
  });

  it("reads worker-comfyui 5.x images (base64 and s3_url)", () => {
    const result = WORKER_FORMATS["comfyui-image"].fromOutput({
      images: [
        { filename: "ComfyUI_00001_.png", type: "base64", data: "iVBORw0KGgo=" },
        { filename: "b.png", type: "s3_url", data: "https://bucket/b.png" },
      ],
    }, "job");
    expect(result.files).toEqual([
      {
        source: { base64: "iVBORw0KGgo=" },
        filename: "ComfyUI_00001_.png",
        contentType: "image/png",
      },
      { source: { url: "https://bucket/b.png" }, filename: "b.png", contentType: "image/png" },
    ]);
  });

  it("maps sdxl input and reads its data-URI list", () => {
    expect(WORKER_FORMATS.sdxl.toInput(image, model)).toEqual({
      prompt: "a fox",
      negative_prompt: "blur",
      width: 512,
      height: 768,
      seed: 9,
      num_inference_steps: 4,
      num_images: 1,
    });
    const result = WORKER_FORMATS.sdxl.fromOutput({
      images: ["data:image/png;base64,AAAA"],
      seed: 1,
    }, "j");
    expect(result.files[0].source).toEqual({ base64: "AAAA" });
  });

  it("reads the Flux public endpoint's image_url and Wan's video_url", () => {
    expect(
      WORKER_FORMATS["flux-public"].fromOutput({ image_url: "https://image.runpod.ai/x.png" }, "j")
        .files[0],
    )
      .toMatchObject({
        source: { url: "https://image.runpod.ai/x.png" },
        contentType: "image/png",
      });
    expect(
      WORKER_FORMATS["wan-t2v"].fromOutput({ video_url: "https://video.runpod.ai/v.mp4" }, "j")
        .files[0],
    )
      .toMatchObject({
        source: { url: "https://video.runpod.ai/v.mp4" },
        contentType: "video/mp4",
      });
    expect(WORKER_FORMATS["wan-t2v"].fromOutput({ video_base64: "AAAA" }, "j").files[0].source)
      .toEqual({ base64: "AAAA" });
  });

  it("speaks the Kokoro contract: {text, voice, speed} → {audio_base64, sample_rate}", () => {
    const audio: GenerationRequest = {
      kind: "audio",
      model: "kokoro",
      text: "hi",
      voice: "af_heart",
      speed: 1,
    };
    expect(WORKER_FORMATS.kokoro.toInput(audio, model)).toEqual({
      text: "hi",
      voice: "af_heart",
      speed: 1,
    });
    expect(WORKER_FORMATS.kokoro.fromOutput({ audio_base64: "UklGRg==", sample_rate: 24000 }, "j"))
      .toEqual({
        files: [{
          source: { base64: "UklGRg==" },
          filename: "audio.wav",
          contentType: "audio/wav",
        }],
        sampleRate: 24000,
      });
  });

  it("reads worker-vllm's aggregated completion", () => {
    const result = WORKER_FORMATS.vllm.fromOutput([{
      choices: [{ text: "hello" }],
      usage: { prompt_tokens: 2, completion_tokens: 1, total_tokens: 3 },
    }], "j");
    expect(result).toEqual({
      files: [],
      text: "hello",
      usage: { prompt_tokens: 2, completion_tokens: 1, total_tokens: 3 },
    });
  });

  it("treats outputs without a file as bad output", () => {
    expect(() =>
      WORKER_FORMATS["comfyui-image"].fromOutput({ status: "success_no_images", images: [] }, "j")
    )
      .toThrow(WorkerOutputError);
    expect(() => WORKER_FORMATS.kokoro.fromOutput({ success: true }, "j")).toThrow(
      WorkerOutputError,
    );
    expect(() => WORKER_FORMATS.sdxl.fromOutput("nope", "j")).toThrow(WorkerOutputError);
  });
});

describe("describeError", () => {
  it("keeps RunPod's error_message and drops the traceback", async () => {
    const { describeError } = await import("./job-outcome.ts");
    const raised = JSON.stringify({
      error_type: "<class 'RuntimeError'>",
      error_message: "CUDA out of memory",
      error_traceback: 'Traceback (most recent call last):\n  File "/handler.py", line 3',
    });
    expect(describeError(raised)).toBe("CUDA out of memory");
    expect(describeError('Traceback (most recent call last):\n  File "/x.py"')).toBe(
      "the worker raised an error",
    );
    expect(describeError("x".repeat(1000))!.length).toBeLessThanOrEqual(301);
    expect(describeError({ error: "prompt is required" })).toBe("prompt is required");
    expect(describeError(undefined)).toBeUndefined();
  });
});
