import { UsageError } from "./exit-codes.ts";

/** A non-negative integer argument (a --limit, a count). */
export function parseCount(name: string, text: string): number {
  if (!/^\d+$/.test(text)) throw new UsageError(`${name} must be a whole number: ${text}`);
  return Number(text);
}

/** A global position (`0` = before everything). */
export function parsePosition(name: string, text: string): bigint {
  if (!/^\d+$/.test(text)) throw new UsageError(`${name} must be a position: ${text}`);
  return BigInt(text);
}

/** An ISO-8601 instant. */
export function parseInstant(name: string, text: string): Date {
  const at = new Date(text);
  if (!/^\d{4}-\d\d-\d\d/.test(text) || Number.isNaN(at.getTime())) {
    throw new UsageError(`${name} must be an ISO time: ${text}`);
  }
  return at;
}

/** `--from`/`--to` style bounds: a position (all digits) or an ISO time. */
export type PositionOrTime = { position: bigint } | { time: Date };

export function parsePositionOrTime(name: string, text: string): PositionOrTime {
  return /^\d+$/.test(text) ? { position: BigInt(text) } : { time: parseInstant(name, text) };
}
