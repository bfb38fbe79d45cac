import { exceedsDepth, MAX_JSON_DEPTH } from "./http-edge.ts";

function nested(depth: number): object {
  let value: object = {};
  for (let level = 1; level < depth; level++) value = { a: value };
  return value;
}

describe("JSON depth", () => {
  it("counts an empty object or array as one level", () => {
    expect(exceedsDepth({}, 1)).toBe(false);
    expect(exceedsDepth([], 1)).toBe(false);
    expect(exceedsDepth({ a: {} }, 1)).toBe(true);
  });

  it("allows exactly MAX_JSON_DEPTH levels and refuses one more", () => {
    expect(exceedsDepth(nested(MAX_JSON_DEPTH), MAX_JSON_DEPTH)).toBe(false);
    expect(exceedsDepth(nested(MAX_JSON_DEPTH + 1), MAX_JSON_DEPTH)).toBe(true);
  });

  it("walks 20,000 levels without recursion", () => {
    expect(exceedsDepth(JSON.parse("[".repeat(20_000) + "]".repeat(20_000)), MAX_JSON_DEPTH))
      .toBe(true);
  });

  it("finds a deep branch beside shallow ones, in arrays and objects alike", () => {
    const body = { messages: [{ role: "user", content: "hi" }], tools: [nested(70)] };
    expect(exceedsDepth(body, MAX_JSON_DEPTH)).toBe(true);
    expect(exceedsDepth({ messages: [{ role: "user", content: [{ type: "text" }] }] }, 64))
      .toBe(false);
  });

  it("leaves a realistic structured-output schema far below the limit", () => {
    // response_format with a JSON schema four object levels deep: 12 levels in all.
    const schema = (depth: number): object =>
      depth === 0
        ? { type: "string" }
        : { type: "object", properties: { child: schema(depth - 1) }, required: ["child"] };
    const body = {
      model: "m",
      messages: [{ role: "user", content: "x" }],
      response_format: { type: "json_schema", json_schema: { name: "n", schema: schema(4) } },
    };
    expect(exceedsDepth(body, 12)).toBe(false);
    expect(exceedsDepth(body, 11)).toBe(true);
  });
});
