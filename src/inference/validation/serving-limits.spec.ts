import { ApiError } from "../../common/api-error.ts";
import { type CatalogueModel, servingLimits } from "../../catalogue/catalogue.ts";
import { checkServingLimits } from "./serving-limits.ts";

const entry = (overrides: Partial<CatalogueModel> = {}): CatalogueModel => ({
  id: "m",
  kind: "text",
  runpod_endpoint_id: "m",
  price_usd: 0.01,
  ...overrides,
});

function refusal(check: () => void): { param: string | null; code: string | null } {
  try {
    check();
  } catch (error) {
    if (error instanceof ApiError) return { param: error.param, code: error.code };
    throw error;
  }
  throw new Error("not refused");
}

describe("serving limits of a flat-price shared endpoint", () => {
  const limits = servingLimits(entry());
  const chat = { model: "m", messages: [{ role: "user", content: "x" }] };

  it("passes OpenAI parameters and the default extras within bounds", () => {
    expect(() =>
      checkServingLimits(
        { ...chat, n: 1, max_tokens: 4096, top_k: 5, min_p: 0.1, logprobs: true, top_logprobs: 20 },
        "chat",
        limits,
        "m",
      )
    ).not.toThrow();
  });

  it.each([
    [{ n: 2 }, "n", "integer_above_max_value"],
    [{ max_tokens: 4097 }, "max_tokens", "integer_above_max_value"],
    [{ max_completion_tokens: 10_000 }, "max_completion_tokens", "integer_above_max_value"],
    [{ top_logprobs: 21 }, "top_logprobs", "integer_above_max_value"],
    [{ best_of: 2 }, "best_of", "unsupported_parameter"],
    [{ guided_regex: "a+" }, "guided_regex", "unsupported_parameter"],
  ])("refuses chat %j naming %s", (patch, param, code) => {
    expect(refusal(() => checkServingLimits({ ...chat, ...patch }, "chat", limits, "m")))
      .toEqual({ param, code });
  });

  it("names max_output_tokens for a body built from /responses", () => {
    expect(
      refusal(() => checkServingLimits({ ...chat, max_tokens: 5000 }, "chat", limits, "m", true)),
    ).toEqual({ param: "max_output_tokens", code: "integer_above_max_value" });
  });

  it("bounds best_of and logprobs on completions", () => {
    const prompt = { model: "m", prompt: "x" };
    expect(refusal(() => checkServingLimits({ ...prompt, best_of: 2 }, "completions", limits, "m")))
      .toEqual({ param: "best_of", code: "integer_above_max_value" });
    expect(
      refusal(() => checkServingLimits({ ...prompt, logprobs: 6 }, "completions", limits, "m")),
    )
      .toEqual({ param: "logprobs", code: "integer_above_max_value" });
  });

  it("bounds embedding inputs by count and characters, a token counting 4", () => {
    const small = servingLimits(entry({
      kind: "embedding",
      limits: { max_inputs: 2, max_input_chars: 10 },
      extra_parameters: [],
    }));
    const check = (input: unknown) =>
      checkServingLimits({ model: "m", input }, "embeddings", small, "m");
    expect(() => check(["abcd", "efgh"])).not.toThrow();
    expect(() => check([1, 2])).not.toThrow();
    expect(refusal(() => check(["a", "b", "c"]))).toEqual({
      param: "input",
      code: "array_above_max_length",
    });
    expect(refusal(() => check("x".repeat(11)))).toEqual({
      param: "input",
      code: "input_above_max_length",
    });
    expect(refusal(() => check([[1, 2], [3]]))).toEqual({
      param: "input",
      code: "input_above_max_length",
    });
    expect(
      refusal(() =>
        checkServingLimits({ model: "m", input: "x", top_k: 1 }, "embeddings", small, "m")
      ),
    )
      .toEqual({ param: "top_k", code: "unsupported_parameter" });
  });

  it("quotes only a short prefix of an unknown parameter's name", () => {
    const name = "p".repeat(10_000);
    const refused = refusal(() => checkServingLimits({ ...chat, [name]: 1 }, "chat", limits, "m"));
    expect(refused.param!.length).toBeLessThan(100);
  });
});
