/** Stands in for the content while a template is cut; the split below proves it occurs once. */
const SENTINEL = "\u0001modelpilot-content\u0001";
const SENTINEL_JSON = JSON.stringify(SENTINEL);

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * The fast path for a stream's repeated content frames. Once the normaliser has relayed one
 * plain content frame (one choice, a delta of nothing but `content`, whose payload is exactly
 * `JSON.stringify` of itself), each later payload that is byte for byte that frame's text around
 * its content string is rewritten as text: the normaliser's output for the template frame, with
 * the new content spliced in. Equal text around the content means an equal chunk but for the
 * content, so the output is exactly what parsing, normalising and `JSON.stringify` would give,
 * provided the content is itself as `JSON.stringify` writes a string. `rewrite` checks that and
 * refuses anything else (a `\uXXXX` or `\/` escape, a stray quote, a control character), which
 * then takes the full path.
 */
export class ContentFrameTemplate {
  /** Characters of the content the last successful `rewrite` relayed, once decoded. */
  contentChars = 0;

  private constructor(
    private readonly upstreamPrefix: string,
    private readonly upstreamSuffix: string,
    private readonly outputPrefix: string,
    private readonly outputSuffix: string,
  ) {}

  /**
   * A template from `payload` and `output`, the chunk the normaliser made of it (left as it was
   * found), or undefined when the payload is not in `JSON.stringify`'s own form or either text
   * cannot be cut around the content.
   */
  static cut(payload: string, output: Record<string, any>): ContentFrameTemplate | undefined {
    const upstream = JSON.parse(payload);
    if (JSON.stringify(upstream) !== payload) return undefined;
    upstream.choices[0].delta.content = SENTINEL;
    const upstreamParts = JSON.stringify(upstream).split(SENTINEL_JSON);
    const delta = output.choices[0].delta;
    const content = delta.content;
    delta.content = SENTINEL;
    const outputParts = JSON.stringify(output).split(SENTINEL_JSON);
    delta.content = content;
    if (upstreamParts.length !== 2 || outputParts.length !== 2) return undefined;
    return new ContentFrameTemplate(
      `${upstreamParts[0]}"`,
      `"${upstreamParts[1]}`,
      `${outputParts[0]}"`,
      `"${outputParts[1]}`,
    );
  }

  /** The output chunk's JSON for `payload`, or undefined when the payload is not this template's. */
  rewrite(payload: string): string | undefined {
    const start = this.upstreamPrefix.length;
    const end = payload.length - this.upstreamSuffix.length;
    if (
      end < start || !payload.startsWith(this.upstreamPrefix) ||
      !payload.endsWith(this.upstreamSuffix)
    ) return undefined;
    let escapes = 0;
    for (let index = start; index < end; index++) {
      const code = payload.charCodeAt(index);
      if (code === QUOTE || code < 0x20) return undefined;
      if (code === BACKSLASH) {
        if (index + 1 >= end || !isStringifyEscape(payload.charCodeAt(index + 1))) return undefined;
        index++;
        escapes++;
      }
    }
    this.contentChars = end - start - escapes;
    return this.outputPrefix + payload.slice(start, end) + this.outputSuffix;
  }
}

/** The two-character escapes `JSON.stringify` writes: \" \\ \b \f \n \r \t. */
function isStringifyEscape(code: number): boolean {
  return code === QUOTE || code === BACKSLASH || code === 0x62 || code === 0x66 ||
    code === 0x6e || code === 0x72 || code === 0x74;
}
