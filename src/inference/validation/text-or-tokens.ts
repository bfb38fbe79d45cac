/**
 * What `prompt` (completions) and `input` (embeddings) accept: a string, strings, token ids or
 * arrays of token ids. Embeddings also refuse an empty token array.
 */
export function isTextOrTokens(value: unknown, allowEmptyTokenArrays: boolean): boolean {
  return typeof value === "string" ||
    (Array.isArray(value) && value.length > 0 && (
      value.every((item) => typeof item === "string") ||
      value.every((item) => Number.isInteger(item)) ||
      value.every((item) =>
        Array.isArray(item) && (allowEmptyTokenArrays || item.length > 0) &&
        item.every((token) => Number.isInteger(token))
      )
    ));
}
