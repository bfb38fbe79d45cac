import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError } from "../config/config.ts";
import { DEFAULT_SERVING_LIMITS, ModelCatalogue, parseCatalogue } from "./catalogue.ts";

describe("model catalogue", () => {
  it("holds the documented pay-per-request prices in micro-dollars", () => {
    const catalogue = new ModelCatalogue({});
    expect(
      Object.fromEntries(
        catalogue.list().map((model) => [model.id, catalogue.priceMicros(model.id)]),
      ),
    )
      .toEqual({
        "flux-schnell": 8_000,
        "flux-dev": 20_000,
        sdxl: 5_000,
        zimage: 8_000,
        kokoro: 2_000,
        chatterbox: 5_000,
        "wan-t2v": 300_000,
        "qwen3-8b": 10_000,
        "bge-small-en-v1.5": 500,
        "s2s-realtime": 0,
      });
    expect(catalogue.get("qwen3-8b")).toMatchObject({
      kind: "text",
      runpod_endpoint_id: "qwen3-8b",
      served_model_name: "Qwen/Qwen3-8B",
    });
  });

  it("answers an unknown model with a 404 model_not_found", () => {
    expect(() => new ModelCatalogue({}).priceMicros("nope")).toThrow("does not exist");
  });

  it("replaces the built-in catalogue with MODELS_FILE", () => {
    const dir = mkdtempSync(join(tmpdir(), "catalogue-"));
    try {
      const file = join(dir, "models.json");
      writeFileSync(
        file,
        JSON.stringify({
          models: [{ id: "m1", kind: "image", runpod_endpoint_id: "ep1", price_usd: 0.0125 }],
        }),
      );
      const catalogue = new ModelCatalogue({ modelsFile: file });
      expect(catalogue.list().map((model) => model.id)).toEqual(["m1"]);
      expect(catalogue.priceMicros("m1")).toBe(12_500);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses a bad file with a message naming MODELS_FILE and the entry", () => {
    expect(() => parseCatalogue({ models: [{ id: "a", kind: "hologram", price_usd: 1 }] }))
      .toThrow(/MODELS_FILE: models\[0\] \(a\)\.kind/);
    expect(() => parseCatalogue({ models: [{ id: "a", kind: "text", price_usd: -1 }] })).toThrow(
      ConfigError,
    );
    expect(() => parseCatalogue({ models: [{ id: "a", kind: "text", price_usd: 0.0000001 }] }))
      .toThrow(/6 decimal/);
    expect(() => new ModelCatalogue({ modelsFile: "/nonexistent/models.json" })).toThrow(
      /MODELS_FILE/,
    );
  });

  it("defaults the endpoint id to the model id", () => {
    expect(
      parseCatalogue({ models: [{ id: "x", kind: "audio", price_usd: 0.002 }] })[0]
        .runpod_endpoint_id,
    )
      .toBe("x");
  });

  it("gives every model serving limits, with defaults and per-entry overrides", () => {
    const built = new ModelCatalogue({});
    expect(built.servingLimits("qwen3-8b")).toMatchObject({
      maxTokens: DEFAULT_SERVING_LIMITS.maxTokens,
      maxN: 1,
      maxInputs: DEFAULT_SERVING_LIMITS.maxInputs,
      maxInputChars: DEFAULT_SERVING_LIMITS.maxInputChars,
    });
    expect([...built.servingLimits("qwen3-8b")!.extraParameters]).toEqual([
      "top_k",
      "min_p",
      "repetition_penalty",
    ]);
    const [entry] = parseCatalogue({
      models: [{
        id: "e",
        kind: "embedding",
        price_usd: 0.001,
        limits: { max_tokens: 8192, max_n: 2, max_inputs: 8, max_input_chars: 4000 },
        extra_parameters: [],
      }],
    });
    expect(entry.limits).toEqual({
      max_tokens: 8192,
      max_n: 2,
      max_inputs: 8,
      max_input_chars: 4000,
    });
    expect(entry.extra_parameters).toEqual([]);
  });

  it("refuses bad serving limits and parameter lists, naming the entry", () => {
    expect(() =>
      parseCatalogue({ models: [{ id: "a", kind: "text", price_usd: 1, limits: { max_n: 0 } }] })
    ).toThrow(/models\[0\] \(a\)\.limits\.max_n must be a positive integer/);
    expect(() =>
      parseCatalogue({
        models: [{ id: "a", kind: "text", price_usd: 1, extra_parameters: "top_k" }],
      })
    ).toThrow(/extra_parameters must be an array of parameter names/);
    expect(() =>
      parseCatalogue({
        models: [{ id: "a", kind: "text", price_usd: 1, extra_parameters: ["x".repeat(65)] }],
      })
    ).toThrow(/extra_parameters/);
  });

  it("finds a model by id, served (Hugging Face) name or alias", () => {
    const catalogue = new ModelCatalogue({});
    expect(catalogue.get("Qwen/Qwen3-8B")?.id).toBe("qwen3-8b");
    expect(catalogue.get("text-embedding-3-small")?.id).toBe("bge-small-en-v1.5");
    expect(catalogue.get("BAAI/bge-small-en-v1.5")).toMatchObject({
      id: "bge-small-en-v1.5",
      kind: "embedding",
      runpod_endpoint_id: "bge-small-en-v1.5",
    });
    expect(catalogue.get("qwen/qwen3-8b")).toBeUndefined();
  });

  it("refuses two entries claiming one name, naming both", () => {
    expect(() =>
      parseCatalogue({
        models: [
          { id: "a", kind: "text", served_model_name: "Org/M", price_usd: 1 },
          { id: "b", kind: "text", served_model_name: "Org/M", price_usd: 1 },
        ],
      })
    ).toThrow(
      /models\[1\] \(b\)\.served_model_name: 'Org\/M' is also the served_model_name of models\[0\] \(a\)/,
    );
    expect(() =>
      parseCatalogue({
        models: [
          { id: "a", kind: "text", price_usd: 1 },
          { id: "b", kind: "embedding", aliases: ["a"], price_usd: 1 },
        ],
      })
    ).toThrow(/models\[1\] \(b\)\.aliases: 'a' is the id of models\[0\]/);
    expect(() =>
      parseCatalogue({
        models: [
          { id: "a", kind: "text", served_model_name: "x", price_usd: 1 },
          { id: "b", kind: "text", aliases: ["x"], price_usd: 1 },
        ],
      })
    ).toThrow(/'x' is also the served_model_name of models\[0\] \(a\)/);
    // An entry's own id as its served name (or alias) is no conflict.
    expect(
      parseCatalogue({
        models: [{ id: "a", kind: "text", served_model_name: "a", aliases: ["a"], price_usd: 1 }],
      }),
    ).toHaveLength(1);
    expect(() =>
      parseCatalogue({ models: [{ id: "a", kind: "text", aliases: "b", price_usd: 1 }] })
    ).toThrow(/aliases must be an array/);
  });

  it("takes capabilities and limits from the worker unless the entry states them", () => {
    const [sdxl, tight, flux, voice, video] = parseCatalogue({
      models: [
        { id: "my-sdxl", kind: "image", worker: "sdxl", price_usd: 0.005 },
        {
          id: "tight",
          kind: "image",
          worker: "sdxl",
          price_usd: 0.005,
          supports_negative_prompt: false,
          limits: { max_size: 1024 },
        },
        { id: "my-flux", kind: "image", worker: "flux-public", price_usd: 0.008 },
        { id: "tts", kind: "audio", price_usd: 0.002 },
        { id: "vid", kind: "video", price_usd: 0.3 },
      ],
    });
    expect(sdxl).toMatchObject({
      supports_negative_prompt: true,
      limits: { min_size: 512, max_size: 1536, size_step: 8 },
      estimated_time_ms: 15_000,
    });
    expect(tight).toMatchObject({
      supports_negative_prompt: false,
      limits: { min_size: 512, max_size: 1024, size_step: 8 },
    });
    expect(flux.supports_negative_prompt).toBe(false);
    expect(voice).toMatchObject({
      worker: "kokoro",
      default_voice: "af_heart",
      limits: { max_chars: 5_000 },
    });
    expect(video).toMatchObject({ worker: "wan-t2v", supports_negative_prompt: true });
    // The built-in entries resolve the same way as a file's.
    expect(new ModelCatalogue({}).get("wan-t2v")?.supports_negative_prompt).toBe(true);
  });

  it("refuses a worker that does not serve the entry's kind, and bounds merged with the worker's", () => {
    expect(() =>
      parseCatalogue({ models: [{ id: "a", kind: "text", worker: "sdxl", price_usd: 1 }] })
    )
      .toThrow(/models\[0\] \(a\)\.worker 'sdxl' serves image models, not text/);
    expect(() =>
      parseCatalogue({
        models: [{
          id: "a",
          kind: "image",
          worker: "sdxl",
          price_usd: 1,
          limits: { max_size: 256 },
        }],
      })
    ).toThrow(/min_size 512 exceeds max_size 256/);
  });
});
