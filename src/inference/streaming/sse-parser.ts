/** An upstream event (everything since the last blank line) grew past the frame limit. */
export class SseFrameTooLarge extends Error {
  override readonly name = "SseFrameTooLarge";
  constructor(readonly limit: number) {
    super(`the upstream sent a stream frame larger than ${limit} bytes`);
  }
}

const LF = 10;
const CR = 13;
const DATA = [0x64, 0x61, 0x74, 0x61, 0x3a]; // "data:"

/**
 * Incremental `text/event-stream` parser over raw bytes: feed chunks as they arrive, get back the
 * `data` payload of every complete event (multi-line data joined with "\n"). Comments (`:`) and
 * `event:`/`id:`/`retry:` lines are skipped; `\n`, `\r\n` and `\r` all end a line, a blank line
 * ends an event.
 *
 * Linear in the bytes fed: each chunk is scanned once from a moving offset (never the whole
 * buffer again), only the unfinished line is kept between chunks, and only `data:` lines are
 * decoded (UTF-8 never has a CR or LF byte inside a character, so a line decodes on its own).
 * An event, counted in bytes with its line ends, may not exceed `maxFrameBytes`: the limit is
 * checked as bytes accumulate, so a frame that never ends costs at most that much memory.
 */
export class SseParser {
  /**
   * The line not yet ended by a line break, copied into one buffer that doubles as needed (a
   * list of pieces would cost an object per byte when an upstream sends one-byte chunks).
   */
  private partial = new Uint8Array(0);
  private partialBytes = 0;
  /** Bytes of the current event so far, completed lines only. */
  private frameBytes = 0;
  private data: string | undefined;
  /** The last chunk ended in CR: an LF starting the next chunk belongs to it. */
  private skipLeadingLf = false;
  private readonly decoder = new TextDecoder();

  constructor(private readonly maxFrameBytes = 1024 * 1024) {}

  push(chunk: Uint8Array): string[] {
    const payloads: string[] = [];
    let position = 0;
    if (this.skipLeadingLf && chunk.length > 0) {
      this.skipLeadingLf = false;
      if (chunk[0] === LF) position = 1;
    }
    // Both searches move forward only, so a chunk of many CRs and no LF stays linear.
    let nextLf = chunk.indexOf(LF, position);
    let nextCr = chunk.indexOf(CR, position);
    while (position < chunk.length) {
      if (nextLf !== -1 && nextLf < position) nextLf = chunk.indexOf(LF, position);
      if (nextCr !== -1 && nextCr < position) nextCr = chunk.indexOf(CR, position);
      let end: number;
      let next: number;
      if (nextCr !== -1 && (nextLf === -1 || nextCr < nextLf)) {
        end = nextCr;
        if (end + 1 < chunk.length) next = chunk[end + 1] === LF ? end + 2 : end + 1;
        else {
          next = end + 1;
          this.skipLeadingLf = true;
        }
      } else if (nextLf !== -1) {
        end = nextLf;
        next = nextLf + 1;
      } else {
        this.keep(chunk.subarray(position));
        break;
      }
      this.checkSize(next - position);
      this.frameBytes += this.partialBytes + next - position;
      this.line(chunk.subarray(position, end), payloads);
      position = next;
    }
    return payloads;
  }

  /** A final event not followed by a blank line (some servers end that way). */
  end(): string[] {
    const payloads: string[] = [];
    if (this.partialBytes > 0) this.line(new Uint8Array(0), payloads);
    if (this.data !== undefined) payloads.push(this.data);
    this.data = undefined;
    this.frameBytes = 0;
    return payloads;
  }

  private keep(piece: Uint8Array): void {
    if (piece.length === 0) return;
    this.checkSize(piece.length);
    const needed = this.partialBytes + piece.length;
    if (needed > this.partial.length) {
      const grown = new Uint8Array(
        Math.max(needed, Math.min(this.maxFrameBytes, this.partial.length * 2), 256),
      );
      grown.set(this.partial.subarray(0, this.partialBytes));
      this.partial = grown;
    }
    this.partial.set(piece, this.partialBytes);
    this.partialBytes = needed;
  }

  /** Throws once the current event with `more` bytes would pass the limit. */
  private checkSize(more: number): void {
    if (this.frameBytes + this.partialBytes + more > this.maxFrameBytes) {
      this.partial = new Uint8Array(0);
      this.partialBytes = 0;
      throw new SseFrameTooLarge(this.maxFrameBytes);
    }
  }

  /** One complete line (the kept pieces, then `tail`). */
  private line(tail: Uint8Array, payloads: string[]): void {
    let line = tail;
    if (this.partialBytes > 0) {
      line = new Uint8Array(this.partialBytes + tail.length);
      line.set(this.partial.subarray(0, this.partialBytes));
      line.set(tail, this.partialBytes);
      this.partialBytes = 0;
      // Give back a buffer grown for one large line.
      if (this.partial.length > 64 * 1024) this.partial = new Uint8Array(0);
    }
    if (line.length === 0) {
      if (this.data !== undefined) payloads.push(this.data);
      this.data = undefined;
      this.frameBytes = 0;
      return;
    }
    if (line.length < DATA.length) return;
    for (let i = 0; i < DATA.length; i++) if (line[i] !== DATA[i]) return;
    const start = line[DATA.length] === 0x20 ? DATA.length + 1 : DATA.length;
    const value = this.decoder.decode(line.subarray(start));
    this.data = this.data === undefined ? value : `${this.data}\n${value}`;
  }
}
