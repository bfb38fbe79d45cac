/**
 * Money is integer micro-dollars (1 USD = 1,000,000) everywhere inside; the API shows USD
 * numbers. A JS number holds integers exactly up to 2^53, i.e. about 9 billion dollars.
 */
export type Micros = number;

export const MICROS_PER_USD = 1_000_000;

/** Parses a USD amount exactly (no float drift); at most 6 decimal places. */
export function usdToMicros(usd: number | string): Micros {
  const text = typeof usd === "number" ? numberToPlainString(usd) : usd.trim();
  const match = /^(-)?(\d+)(?:\.(\d{1,6}))?$/.exec(text);
  if (!match) throw new RangeError(`not a USD amount with at most 6 decimals: ${text}`);
  const [, minus, whole, fraction = ""] = match;
  const micros = Number(whole) * MICROS_PER_USD + Number(fraction.padEnd(6, "0"));
  if (!Number.isSafeInteger(micros)) throw new RangeError(`USD amount too large: ${text}`);
  return minus ? -micros : micros;
}

/** Micro-dollars as a USD number for JSON (exact to 6 decimals when printed). */
export function microsToUsd(micros: Micros): number {
  return Number((micros / MICROS_PER_USD).toFixed(6));
}

function numberToPlainString(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  // toFixed(7) then trim avoids exponent notation; a 7th decimal digit is rejected by the regex.
  const fixed = value.toFixed(7).replace(/0+$/, "").replace(/\.$/, "");
  return fixed === "-0" ? "0" : fixed;
}
