import { ApiError } from "./api-error.ts";
import {
  MAX_POSITION,
  parseIdempotencyKey,
  parseLimit,
  parseOneOf,
  parsePosition,
  parseTimestamp,
  queryString,
} from "./query-params.ts";

function refusal(read: () => unknown): { status: number; param: string | null } {
  try {
    read();
  } catch (error) {
    if (error instanceof ApiError) return { status: error.getStatus(), param: error.param };
    throw error;
  }
  throw new Error("expected a refusal");
}

describe("query parameters", () => {
  it("refuses a repeated key, naming it", () => {
    expect(refusal(() => queryString(["a", "b"], "before"))).toEqual({
      status: 400,
      param: "before",
    });
    expect(refusal(() => parseLimit(["1", "2"], { fallback: 20, max: 100 }))).toEqual({
      status: 400,
      param: "limit",
    });
  });

  it("treats absent and empty values alike", () => {
    expect(queryString(undefined, "x")).toBeUndefined();
    expect(queryString("", "x")).toBeUndefined();
    expect(parseLimit("", { fallback: 20, max: 100 })).toBe(20);
    expect(parsePosition(undefined, "from")).toBeUndefined();
  });

  it("bounds string lengths", () => {
    expect(queryString("a".repeat(256), "cursor")).toHaveLength(256);
    expect(refusal(() => queryString("a".repeat(257), "cursor")).param).toBe("cursor");
  });

  it("accepts limits from 1 to max written as plain digits only", () => {
    expect(parseLimit("100", { fallback: 20, max: 100 })).toBe(100);
    for (const bad of ["0", "101", "-1", "1e2", "1.5", " 5", "99999999999999999999"]) {
      expect(refusal(() => parseLimit(bad, { fallback: 20, max: 100 })).param).toBe("limit");
    }
  });

  it("parses ISO 8601 instants and refuses the ISO forms Date cannot hold", () => {
    expect(parseTimestamp("2026-01-31T00:00:00Z", "at")?.toISOString()).toBe(
      "2026-01-31T00:00:00.000Z",
    );
    expect(parseTimestamp("2026-01-31", "at")?.toISOString()).toBe("2026-01-31T00:00:00.000Z");
    for (
      const bad of ["2020-W01", "2020-100", "2020-W01-1", "+275760-09-13T00:00:00.001Z", "soon"]
    ) {
      expect(refusal(() => parseTimestamp(bad, "from")).param).toBe("from");
    }
  });

  it("bounds positions to a signed 64-bit integer", () => {
    expect(parsePosition("9223372036854775807", "from")).toBe(MAX_POSITION);
    expect(parsePosition("0", "from")).toBe(0n);
    for (const bad of ["9223372036854775808", "9999999999999999999", "-1", "1.0", "0x10"]) {
      expect(refusal(() => parsePosition(bad, "from")).param).toBe("from");
    }
  });

  it("accepts only the listed values", () => {
    expect(parseOneOf("day", "group_by", ["model", "day"])).toBe("day");
    expect(refusal(() => parseOneOf("week", "group_by", ["model", "day"])).param).toBe("group_by");
  });

  it("bounds Idempotency-Key to 255 printable ASCII characters", () => {
    expect(parseIdempotencyKey("order 42")).toBe("order 42");
    expect(parseIdempotencyKey(undefined)).toBeUndefined();
    expect(refusal(() => parseIdempotencyKey("k".repeat(256))).param).toBe("Idempotency-Key");
    expect(refusal(() => parseIdempotencyKey("caf\u00e9")).param).toBe("Idempotency-Key");
  });
});
