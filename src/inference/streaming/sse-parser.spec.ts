import { SseFrameTooLarge, SseParser } from "./sse-parser.ts";

const encoder = new TextEncoder();
const bytes = (text: string) => encoder.encode(text);

/** Feeds `text` in pieces of `size` bytes and collects every payload, end() included. */
function parseInPieces(text: string, size: number, parser = new SseParser()): string[] {
  const all = bytes(text);
  const payloads: string[] = [];
  for (let offset = 0; offset < all.length; offset += size) {
    payloads.push(...parser.push(all.subarray(offset, offset + size)));
  }
  payloads.push(...parser.end());
  return payloads;
}

describe("SseParser", () => {
  it("returns the data of each event, skipping comments and other fields", () => {
    const parser = new SseParser();
    expect(parser.push(bytes(': ping\n\nevent: x\nid: 1\ndata: {"a":1}\n\ndata:b\n\n'))).toEqual([
      '{"a":1}',
      "b",
    ]);
  });

  it("joins multi-line data with a newline", () => {
    expect(new SseParser().push(bytes("data: one\ndata: two\n\n"))).toEqual(["one\ntwo"]);
  });

  it("accepts LF, CRLF and CR line ends, also when a CRLF is split across chunks", () => {
    const text = "data: a\r\n\r\ndata: b\r\rdata: c\n\ndata: d\r\n\r\n";
    const expected = ["a", "b", "c", "d"];
    for (const size of [1, 2, 3, 5, 7, text.length]) {
      expect(parseInPieces(text, size)).toEqual(expected);
    }
  });

  it("decodes multi-byte characters split across chunks", () => {
    const text = 'data: {"content":"héllo 世界 🎉"}\n\n';
    expect(parseInPieces(text, 1)).toEqual(['{"content":"héllo 世界 🎉"}']);
  });

  it("returns a final event that has no blank line after it", () => {
    const parser = new SseParser();
    expect(parser.push(bytes("data: [DONE]\n"))).toEqual([]);
    expect(parser.end()).toEqual(["[DONE]"]);
    expect(new SseParser().end()).toEqual([]);
  });

  it("refuses an event larger than the frame limit, whether it arrives whole or piece by piece", () => {
    const big = `data: ${"x".repeat(2000)}\n\n`;
    expect(() => new SseParser(1024).push(bytes(big))).toThrow(SseFrameTooLarge);
    expect(() => parseInPieces(big, 10, new SseParser(1024))).toThrow(SseFrameTooLarge);
    // Many data lines without the blank line that ends the event count as one frame.
    expect(() => new SseParser(1024).push(bytes("data: 0123456789\n".repeat(100)))).toThrow(
      SseFrameTooLarge,
    );
    // Frames under the limit pass however many there are.
    expect(parseInPieces(`data: ${"y".repeat(900)}\n\n`.repeat(50), 64, new SseParser(1024)))
      .toHaveLength(50);
  });

  it("stays linear on 5 MB of small chunks with no line end (quadratic before)", () => {
    const parser = new SseParser(8 * 1024 * 1024);
    const piece = bytes("x".repeat(50));
    const started = performance.now();
    let payloads = 0;
    for (let i = 0; i < 100_000; i++) payloads += parser.push(piece).length;
    const elapsedMs = performance.now() - started;
    expect(payloads).toBe(0);
    // The old parser rescanned (and re-concatenated) the whole buffer per chunk: ~250 GB of work.
    expect(elapsedMs).toBeLessThan(2_000);
    expect(parser.push(bytes("\n\n"))).toHaveLength(0); // no data: line, so no payload
  });

  it("fails fast on one-byte chunks that never end a frame", () => {
    const parser = new SseParser(1024 * 1024);
    const one = bytes("x");
    const started = performance.now();
    let fed = 0;
    expect(() => {
      for (; fed < 5 * 1024 * 1024; fed++) parser.push(one);
    }).toThrow(SseFrameTooLarge);
    expect(fed).toBe(1024 * 1024);
    expect(performance.now() - started).toBeLessThan(3_000);
  });

  it("stays linear on a chunk of many CRs and no LF, and on 5 MB of valid frames", () => {
    const crs = new Uint8Array(2 * 1024 * 1024).fill(13);
    let started = performance.now();
    expect(new SseParser().push(crs)).toEqual([]);
    expect(performance.now() - started).toBeLessThan(2_000);

    const frame = `data: {"choices":[{"delta":{"content":"${"z".repeat(80)}"}}]}\n\n`;
    const text = frame.repeat(Math.ceil((5 * 1024 * 1024) / frame.length));
    started = performance.now();
    const payloads = parseInPieces(text, 1500);
    expect(payloads.length).toBe(Math.ceil((5 * 1024 * 1024) / frame.length));
    expect(performance.now() - started).toBeLessThan(3_000);
  });
});
