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
 * The buffer `readTransient` reads into. A byte stream's default reader allocates (and zeroes)
 * a fresh 64 KiB buffer for every read, however few bytes arrive: for thousands of SSE streams
 * of small frames that allocation was the relay's largest cost, and its garbage the next.
 */
const TRANSIENT_READ_BYTES = 8 * 1024;

export class BoundedBody {
  /** Bytes read so far. */
  bytesRead = 0;
  private reader?: ReadableStreamDefaultReader<Uint8Array>;
  private byobReader?: ReadableStreamBYOBReader;
  /** readTransient's buffer, handed back by each read (a BYOB read transfers it). */
  private transientBuffer?: ArrayBuffer;
  /** Set by `of` when the response declares its length, for the one-call read in `bytes()`. */
  private declaredResponse?: Response;
  private failure?: BodyLimitExceeded;
  /** `performance.now()` when the pending read began; -1 while no read is pending. */
  private waitingSince = -1;
  private timer?: ReturnType<typeof setTimeout>;
  private finished = false;

  constructor(
    private readonly body: ReadableStream<Uint8Array> | null,
    private readonly limits: BodyLimits,
    private readonly onBreach: () => void = () => undefined,
  ) {
    if (!body) this.finished = true;
    else this.arm(performance.now());
  }

  /** A response's body; a declared Content-Length over the limit fails the first read. */
  static of(response: Response, limits: BodyLimits, onBreach?: () => void): BoundedBody {
    const bounded = new BoundedBody(response.body, limits, onBreach);
    const declared = response.headers.get("content-length");
    if (declared !== null) {
      const length = Number(declared);
      if (length > limits.maxBytes) bounded.breach("size");
      else if (length <= ONE_CALL_READ_MAX_BYTES) bounded.declaredResponse = response;
    }
    return bounded;
  }

  /** The next chunk, or undefined at the end of the body. */
  read(): Promise<Uint8Array | undefined> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.finished || !this.body) return Promise.resolve(undefined);
    this.reader ??= this.body.getReader();
    return this.next(this.reader.read());
  }

  /**
   * The next chunk, in a buffer this body reuses: valid only until the next call, so only for a
   * caller done with each chunk before it asks for the next (the SSE relay). Never mixed with
   * `read` on one body. A stream that is not a byte stream is read as `read` reads it.
   */
  readTransient(): Promise<Uint8Array | undefined> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.finished || !this.body) return Promise.resolve(undefined);
    if (!this.byobReader) {
      if (this.reader) return this.read();
      try {
        this.byobReader = this.body.getReader({ mode: "byob" });
      } catch {
        return this.read();
      }
    }
    const buffer = this.transientBuffer ?? new ArrayBuffer(TRANSIENT_READ_BYTES);
    this.transientBuffer = undefined;
    return this.next(this.byobReader.read(new Uint8Array(buffer)));
  }

  private async next(
    pending: Promise<ReadableStreamReadResult<Uint8Array>>,
  ): Promise<Uint8Array | undefined> {
    this.waitingSince = performance.now();
    let result: ReadableStreamReadResult<Uint8Array>;
    try {
      result = await pending;
    } catch (error) {
      if (this.failure) throw this.failure;
      this.stop();
      throw error;
    } finally {
      this.waitingSince = -1;
    }
    if (this.failure) throw this.failure;
    if (result.done) {
      this.stop();
      return undefined;
    }
    if (this.byobReader) this.transientBuffer = result.value.buffer as ArrayBuffer;
    this.bytesRead += result.value.byteLength;
    if (this.bytesRead > this.limits.maxBytes) throw this.breach("size");
    return result.value;
  }

  /** The whole body, copied once into one array. */
  async bytes(): Promise<Uint8Array> {
    if (this.declaredResponse && !this.reader && !this.failure && !this.finished) {
      return await this.readDeclared(this.declaredResponse);
    }
    const chunks: Uint8Array[] = [];
    for (;;) {
      const chunk = await this.read();
      if (!chunk) break;
      chunks.push(chunk);
    }
    if (chunks.length === 1) return chunks[0];
    const data = new Uint8Array(this.bytesRead);
    let offset = 0;
    for (const chunk of chunks) {
      data.set(chunk, offset);
      offset += chunk.byteLength;
    }
    return data;
  }

  /**
   * A body of declared length (already known to be within maxBytes; the HTTP client reads no
   * more than it declares) in one call, which stays in the runtime's native code instead of a
   * JavaScript round trip per chunk. The whole read counts as one pending read, so the idle
   * timeout bounds it as a whole, and the deadline as ever; a breach aborts the request, which
   * rejects the read.
   */
  private async readDeclared(response: Response): Promise<Uint8Array> {
    this.waitingSince = performance.now();
    let data: Uint8Array;
    try {
      data = new Uint8Array(await response.arrayBuffer());
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
    (this.reader ?? this.byobReader ?? this.body)?.cancel().catch(() => undefined);
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
