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

export class BoundedBody {
  /** Bytes read so far. */
  bytesRead = 0;
  private readonly reader?: ReadableStreamDefaultReader<Uint8Array>;
  private failure?: BodyLimitExceeded;
  /** `performance.now()` when the pending read began; -1 while no read is pending. */
  private waitingSince = -1;
  private timer?: ReturnType<typeof setTimeout>;
  private finished = false;

  constructor(
    body: ReadableStream<Uint8Array> | null,
    private readonly limits: BodyLimits,
    private readonly onBreach: () => void = () => undefined,
  ) {
    this.reader = body?.getReader();
    if (!this.reader) this.finished = true;
    else this.arm(performance.now());
  }

  /** A response's body; a declared Content-Length over the limit fails the first read. */
  static of(response: Response, limits: BodyLimits, onBreach?: () => void): BoundedBody {
    const bounded = new BoundedBody(response.body, limits, onBreach);
    const declared = Number(response.headers.get("content-length") ?? 0);
    if (declared > limits.maxBytes) bounded.breach("size");
    return bounded;
  }

  /** The next chunk, or undefined at the end of the body. */
  async read(): Promise<Uint8Array | undefined> {
    if (this.failure) throw this.failure;
    if (this.finished || !this.reader) return undefined;
    this.waitingSince = performance.now();
    let result: ReadableStreamReadResult<Uint8Array>;
    try {
      result = await this.reader.read();
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
    this.bytesRead += result.value.byteLength;
    if (this.bytesRead > this.limits.maxBytes) throw this.breach("size");
    return result.value;
  }

  /** The whole body, copied once into one array. */
  async bytes(): Promise<Uint8Array> {
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

  async text(): Promise<string> {
    return new TextDecoder().decode(await this.bytes());
  }

  /** Stops reading (the caller is done or gave up); idempotent. */
  cancel(): void {
    if (this.finished) return;
    this.stop();
    this.reader?.cancel().catch(() => undefined);
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
