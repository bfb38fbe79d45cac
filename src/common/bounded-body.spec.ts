import { BodyLimitExceeded, BoundedBody } from "./bounded-body.ts";

/** A body that yields `chunks`, waiting `gapMs` before each one, then never ends if `endless`. */
function body(chunks: number[], gapMs = 0, endless = false): ReadableStream<Uint8Array> {
  let index = 0;
  return new ReadableStream({
    async pull(controller) {
      if (index >= chunks.length) {
        if (endless) return await new Promise(() => undefined);
        return controller.close();
      }
      if (gapMs) await new Promise((resolve) => setTimeout(resolve, gapMs));
      controller.enqueue(new Uint8Array(chunks[index++]));
    },
  });
}

describe("BoundedBody", () => {
  it("reads a body within its limits whole", async () => {
    const bounded = new BoundedBody(body([3, 4]), { maxBytes: 7, idleTimeoutMs: 500 });
    expect((await bounded.bytes()).byteLength).toBe(7);
  });

  it("refuses a body past maxBytes and calls onBreach once", async () => {
    let breaches = 0;
    const bounded = new BoundedBody(body([4, 4, 4]), { maxBytes: 7 }, () => breaches++);
    await expect(bounded.bytes()).rejects.toMatchObject({ kind: "size", limit: 7 });
    await expect(bounded.read()).rejects.toBeInstanceOf(BodyLimitExceeded);
    expect(breaches).toBe(1);
  });

  it("refuses a declared Content-Length past maxBytes before reading", async () => {
    const response = new Response(body([1]), { headers: { "content-length": "100" } });
    await expect(BoundedBody.of(response, { maxBytes: 10 }).text()).rejects.toMatchObject({
      kind: "size",
    });
  });

  it("times out a pending read after idleTimeoutMs, but not a slow consumer", async () => {
    const idle = new BoundedBody(body([1], 0, true), { maxBytes: 100, idleTimeoutMs: 100 });
    const started = performance.now();
    await expect(idle.bytes()).rejects.toMatchObject({ kind: "idle", limit: 100 });
    expect(performance.now() - started).toBeGreaterThanOrEqual(95);

    // The time the consumer spends between reads is not the upstream's pause.
    const slowReader = new BoundedBody(body([1, 1]), { maxBytes: 100, idleTimeoutMs: 100 });
    await slowReader.read();
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect(await slowReader.read()).toBeDefined();
    expect(await slowReader.read()).toBeUndefined();
  });

  it("fails at the deadline even when bytes keep coming faster than the idle timeout", async () => {
    const chunks = Array.from({ length: 100 }, () => 1);
    const bounded = new BoundedBody(body(chunks, 20), {
      maxBytes: 1_000,
      idleTimeoutMs: 1_000,
      deadline: performance.now() + 200,
      totalTimeoutMs: 200,
    });
    await expect(bounded.bytes()).rejects.toMatchObject({ kind: "total", limit: 200 });
  });

  it("reads a byte stream into one reused buffer, through the same limits", async () => {
    const text = "data: one\n\ndata: two\n\n".repeat(2_000);
    const bytes = new TextEncoder().encode(text);
    let sent = 0;
    const byteStream = () =>
      new ReadableStream({
        type: "bytes",
        pull(controller) {
          if (sent >= bytes.length) {
            // As a byte source must: a pending BYOB read gets its buffer back, empty.
            controller.close();
            return controller.byobRequest?.respond(0);
          }
          const piece = bytes.subarray(sent, sent + 3_000);
          sent += piece.length;
          controller.enqueue(piece.slice());
        },
      });
    const bounded = new BoundedBody(byteStream(), { maxBytes: bytes.length });
    const decoder = new TextDecoder();
    const buffers = new Set<ArrayBufferLike>();
    let received = "";
    let reads = 0;
    for (let chunk = await bounded.readTransient(); chunk; chunk = await bounded.readTransient()) {
      received += decoder.decode(chunk, { stream: true });
      buffers.add(chunk.buffer);
      reads++;
    }
    expect(received).toBe(text);
    expect(reads).toBeGreaterThan(4);
    // A BYOB read hands back the buffer it was given (transferred): one allocation per body.
    expect(new Set([...buffers].map((buffer) => buffer.byteLength)).size).toBe(1);

    sent = 0;
    const tooSmall = new BoundedBody(byteStream(), { maxBytes: bytes.length - 1 });
    await expect((async () => {
      while (await tooSmall.readTransient());
    })()).rejects.toMatchObject({ kind: "size" });

    // A stream that is not a byte stream is read chunk by chunk as `read` reads it.
    const plain = new BoundedBody(body([3, 4]), { maxBytes: 7 });
    expect((await plain.readTransient())?.byteLength).toBe(3);
    expect((await plain.readTransient())?.byteLength).toBe(4);
    expect(await plain.readTransient()).toBeUndefined();
  });

  it("reads a small declared body in one call, and its idle timeout bounds that call", async () => {
    const whole = BoundedBody.of(
      new Response(body([4, 6]), { headers: { "content-length": "10" } }),
      { maxBytes: 100, idleTimeoutMs: 500 },
    );
    expect((await whole.bytes()).byteLength).toBe(10);
    expect(whole.bytesRead).toBe(10);

    // The request's abort is what ends a pending one-call read; here it errors the stream.
    let source!: ReadableStreamDefaultController<Uint8Array>;
    const stalled = new ReadableStream<Uint8Array>({
      start(controller) {
        source = controller;
        controller.enqueue(new Uint8Array(2));
      },
    });
    const started = performance.now();
    const bounded = BoundedBody.of(
      new Response(stalled, { headers: { "content-length": "10" } }),
      { maxBytes: 100, idleTimeoutMs: 100 },
      () => source.error(new Error("aborted")),
    );
    await expect(bounded.bytes()).rejects.toMatchObject({ kind: "idle", limit: 100 });
    expect(performance.now() - started).toBeGreaterThanOrEqual(95);
  });
});
