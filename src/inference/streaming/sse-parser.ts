/**
 * Incremental `text/event-stream` parser: feed decoded text as it arrives, get back the `data`
 * payload of every complete event (multi-line data joined with "\n"). Comments (`:`) and
 * `event:`/`id:`/`retry:` lines are skipped; `\n\n`, `\r\n\r\n` and `\r\r` all end an event.
 */
export class SseParser {
  private buffer = "";

  push(text: string): string[] {
    let buffer = this.buffer + text;
    if (buffer.includes("\r")) {
      // Keep a trailing "\r": its "\n" may be in the next piece.
      const tail = buffer.endsWith("\r") ? "\r" : "";
      buffer = buffer.slice(0, buffer.length - tail.length).replace(/\r\n?/g, "\n") + tail;
    }
    const payloads: string[] = [];
    let start = 0;
    for (;;) {
      const end = buffer.indexOf("\n\n", start);
      if (end === -1) break;
      const data = dataOf(buffer.slice(start, end));
      if (data !== undefined) payloads.push(data);
      start = end + 2;
    }
    this.buffer = start === 0 ? buffer : buffer.slice(start);
    return payloads;
  }

  /** A final event not followed by a blank line (some servers end that way). */
  end(): string[] {
    const rest = this.buffer.replace(/\r\n?/g, "\n").trim();
    this.buffer = "";
    if (!rest) return [];
    const data = dataOf(rest);
    return data === undefined ? [] : [data];
  }
}

function dataOf(block: string): string | undefined {
  // Fast path: one `data: …` line, the common case.
  if (block.startsWith("data:") && !block.includes("\n")) {
    return block.charCodeAt(5) === 32 ? block.slice(6) : block.slice(5);
  }
  let data: string | undefined;
  for (const line of block.split("\n")) {
    if (!line.startsWith("data:")) continue;
    const value = line.charCodeAt(5) === 32 ? line.slice(6) : line.slice(5);
    data = data === undefined ? value : `${data}\n${value}`;
  }
  return data;
}
