import type { IncomingMessage } from "node:http";

/**
 * Reads an HTTP response body from a server the gateway does not control through a byte limit,
 * an idle timeout (the longest wait for the next chunk while the reader is waiting) and a total
 * deadline. A breach throws BodyLimitExceeded, cancels the body and calls `onBreach` (the caller
 * aborts the request there, which frees the socket). One timer, re-armed lazily, serves both
 * timeouts, so a stream of many small chunks does not pay a timer per chunk.
 */
export type BodyLimitKind = "size" | "idle" | "total";

export class BodyLimitExceeded extends Error {
  override readonly name = "BodyLimitExceeded";
  constructor(readonly kind: BodyLimitKind, readonly limit: number) {
    super(
      kind === "size"
        ? `the response is larger than ${limit} bytes`
        : kind === "idle"
        ? `no bytes arrived for ${limit} ms`
        : `the response did not finish within ${limit} ms`,
    );
  }
}

export interface BodyLimits {
  maxBytes: number;
  /** Longest wait for the next chunk while a read is pending; none if omitted. */
  idleTimeoutMs?: number;
  /** The whole body must have arrived by this `performance.now()` time; none if omitted. */
  deadline?: number;
  /** Reported in the error for a missed deadline (the total budget it stands for). */
  totalTimeoutMs?: number;
}

/**
 * Declared bodies up to this size (every ordinary JSON answer) are read in one call; a wait for
 * the whole of it past the idle timeout is then as much a stall as a wait for one chunk.
 */
const ONE_CALL_READ_MAX_BYTES = 1024 * 1024;

/**
 * Where a BoundedBody's bytes come from: a web ReadableStream (fetch) or node:http's
 * IncomingMessage (the gateway's upstream transport), behind one shape.
 */
interface ChunkSource {
  /** The next chunk, or undefined at the end. */
  next(): Promise<Uint8Array | undefined>;
  /** The whole body in one call, when its declared length allows (see ONE_CALL_READ_MAX_BYTES). */
  whole?(): Promise<Uint8Array>;
  cancel(): void;
}

function webSource(body: ReadableStream<Uint8Array>): ChunkSource {
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  return {
    async next() {
      reader ??= body.getReader();
      const result = await reader.read();
      return result.done ? undefined : result.value;
    },
    cancel() {
      (reader ?? body).cancel().catch(() => undefined);
    },
  };
}

/** A Response's body; `whole` stays in the runtime's native code instead of a round trip per chunk. */
function responseSource(response: Response): ChunkSource {
  const source = webSource(response.body!);
  source.whole = async () => new Uint8Array(await response.arrayBuffer());
  return source;
}

/**
 * node:http's response as it arrives, with no web stream built over it. A connection that
 * closes before the body is complete fails the read, as a broken fetch body does.
 */
function incomingSource(message: IncomingMessage): ChunkSource {
  let chunks: AsyncIterator<Uint8Array> | undefined;
  return {
    async next() {
      chunks ??= message[Symbol.asyncIterator]();
      const result = await chunks.next();
      return result.done ? undefined : result.value;
    },
    whole: () =>
      new Promise<Uint8Array>((resolve, reject) => {
        const parts: Uint8Array[] = [];
        message.on("data", (chunk: Uint8Array) => parts.push(chunk));
        message.once("end", () => resolve(joined(parts)));
        message.once("error", reject);
        message.once("close", () => {
          if (!message.complete) reject(new Error("the connection closed mid-body"));
        });
      }),
    cancel() {
      message.destroy();
    },
  };
}

function joined(chunks: Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  let length = 0;
  for (const chunk of chunks) length += chunk.byteLength;
  const data = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    data.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return data;
}

export class BoundedBody {
  /** Bytes read so far. */
  bytesRead = 0;
  private readonly source?: ChunkSource;
  private started = false;
  /** Set when the body declares a length small enough for the one-call read in `bytes()`. */
  private declaredSmall = false;
  private failure?: BodyLimitExceeded;
  /** `performance.now()` when the pending read began; -1 while no read is pending. */
  private waitingSince = -1;
  private timer?: ReturnType<typeof setTimeout>;
  private finished = false;

  constructor(
    body: ReadableStream<Uint8Array> | ChunkSource | null,
    private readonly limits: BodyLimits,
    private readonly onBreach: () => void = () => undefined,
  ) {
    this.source = body instanceof ReadableStream ? webSource(body) : body ?? undefined;
    if (!this.source) this.finished = true;
    else this.arm(performance.now());
  }

  /** A response's body; a declared Content-Length over the limit fails the first read. */
  static of(response: Response, limits: BodyLimits, onBreach?: () => void): BoundedBody {
    const source = response.body ? responseSource(response) : null;
    const bounded = new BoundedBody(source, limits, onBreach);
    bounded.declare(response.headers.get("content-length"));
    return bounded;
  }

  /** node:http's response body, under the same limits as `of`. */
  static ofIncoming(
    message: IncomingMessage,
    limits: BodyLimits,
    onBreach?: () => void,
  ): BoundedBody {
    const bounded = new BoundedBody(incomingSource(message), limits, onBreach);
    bounded.declare(message.headers["content-length"] ?? null);
    return bounded;
  }

  private declare(contentLength: string | null): void {
    if (contentLength === null) return;
    const length = Number(contentLength);
    if (length > this.limits.maxBytes) this.breach("size");
    else if (length <= ONE_CALL_READ_MAX_BYTES) this.declaredSmall = true;
  }

  /** The next chunk, or undefined at the end of the body. */
  async read(): Promise<Uint8Array | undefined> {
    if (this.failure) throw this.failure;
    if (this.finished || !this.source) return undefined;
    this.started = true;
    this.waitingSince = performance.now();
    let chunk: Uint8Array | undefined;
    try {
      chunk = await this.source.next();
    } catch (error) {
      if (this.failure) throw this.failure;
      this.stop();
      throw error;
    } finally {
      this.waitingSince = -1;
    }
    if (this.failure) throw this.failure;
    if (!chunk) {
      this.stop();
      return undefined;
    }
    this.bytesRead += chunk.byteLength;
    if (this.bytesRead > this.limits.maxBytes) throw this.breach("size");
    return chunk;
  }

  /** The whole body, copied once into one array. */
  async bytes(): Promise<Uint8Array> {
    const whole = this.source?.whole;
    if (this.declaredSmall && whole && !this.started && !this.failure && !this.finished) {
      return await this.readDeclared(whole);
    }
    const chunks: Uint8Array[] = [];
    for (;;) {
      const chunk = await this.read();
      if (!chunk) break;
      chunks.push(chunk);
    }
    return chunks.length === 0 ? new Uint8Array(0) : joined(chunks);
  }

  /**
   * A body of declared length (already known to be within maxBytes; the HTTP client reads no
   * more than it declares) in one call, which stays in the runtime's native code instead of a
   * JavaScript round trip per chunk. The whole read counts as one pending read, so the idle
   * timeout bounds it as a whole, and the deadline as ever; a breach aborts the request, which
   * rejects the read.
   */
  private async readDeclared(whole: () => Promise<Uint8Array>): Promise<Uint8Array> {
    this.started = true;
    this.waitingSince = performance.now();
    let data: Uint8Array;
    try {
      data = await whole();
    } catch (error) {
      if (this.failure) throw this.failure;
      this.stop();
      throw error;
    } finally {
      this.waitingSince = -1;
    }
    if (this.failure) throw this.failure;
    this.stop();
    this.bytesRead = data.byteLength;
    if (this.bytesRead > this.limits.maxBytes) throw this.breach("size");
    return data;
  }

  async text(): Promise<string> {
    return new TextDecoder().decode(await this.bytes());
  }

  /** Stops reading (the caller is done or gave up); idempotent. */
  cancel(): void {
    if (this.finished) return;
    this.stop();
    this.source?.cancel();
  }

  private breach(kind: BodyLimitKind): BodyLimitExceeded {
    if (this.failure) return this.failure;
    const limit = kind === "size"
      ? this.limits.maxBytes
      : kind === "idle"
      ? this.limits.idleTimeoutMs!
      : this.limits.totalTimeoutMs ?? 0;
    this.failure = new BodyLimitExceeded(kind, limit);
    this.cancel();
    this.onBreach();
    return this.failure;
  }

  private stop(): void {
    this.finished = true;
    if (this.timer !== undefined) {
      // The cast bridges Deno's and @types/node's timer types (both checked together with tests).
      clearTimeout(this.timer as Parameters<typeof clearTimeout>[0]);
      this.timer = undefined;
    }
  }

  /** One timer, due at the earlier of the idle point of a pending read (or now + idle) and the deadline. */
  private arm(now: number): void {
    const { idleTimeoutMs, deadline } = this.limits;
    let due = deadline ?? Infinity;
    if (idleTimeoutMs !== undefined) {
      due = Math.min(due, (this.waitingSince >= 0 ? this.waitingSince : now) + idleTimeoutMs);
    }
    if (due === Infinity) return;
    this.timer = setTimeout(() => this.check(), Math.max(0, due - now));
  }

  private check(): void {
    this.timer = undefined;
    if (this.finished) return;
    const now = performance.now();
    const { idleTimeoutMs, deadline } = this.limits;
    if (deadline !== undefined && now >= deadline) {
      this.breach("total");
      return;
    }
    if (
      idleTimeoutMs !== undefined && this.waitingSince >= 0 &&
      now - this.waitingSince >= idleTimeoutMs
    ) {
      this.breach("idle");
      return;
    }
    this.arm(now);
  }
}
