import { createWriteStream } from "node:fs";
import process from "node:process";
import type { Command } from "commander";
import type { EventFilter } from "../../event-store/event-store.port.ts";
import { parsePositionOrTime, type PositionOrTime } from "../arguments.ts";
import type { CliContext } from "../context.ts";
import { eventLine } from "../event-line.ts";
import { forEachPage } from "../read-all.ts";

export function register(program: Command, context: CliContext): void {
  program.command("export")
    .description("events as JSONL for analysis, redacted like `events` (positions inclusive)")
    .option("--from <position|iso>", "first position, or first instant (recorded time)")
    .option("--to <position|iso>", "last position, or last instant (recorded time)")
    .option("--type <EventType...>", "only these event types")
    .option("--stream-prefix <prefix...>", "only streams starting with these")
    .option("--out <file>", "write to this file instead of stdout")
    .action(async (options: {
      from?: string;
      to?: string;
      type?: string[];
      streamPrefix?: string[];
      out?: string;
    }) => {
      const from = options.from ? parsePositionOrTime("--from", options.from) : undefined;
      const to = options.to ? parsePositionOrTime("--to", options.to) : undefined;
      const filter: EventFilter | undefined = options.type || options.streamPrefix
        ? {
          ...(options.type ? { eventTypes: options.type } : {}),
          ...(options.streamPrefix ? { streamPrefixes: options.streamPrefix } : {}),
        }
        : undefined;
      const store = context.store();
      const head = await store.headPosition();
      const out = options.out ? createWriteStream(options.out) : process.stdout;
      // On stderr, so it never mixes with the JSONL even when that goes to stdout.
      const progress = context.progress("export", Number(head));
      let written = 0;
      try {
        await forEachPage(store, {
          from: from && "position" in from && from.position > 0n ? from.position - 1n : 0n,
          to: to && "position" in to ? to.position : head,
          filter,
        }, async (page) => {
          let chunk = "";
          for (const event of page) {
            if (!within(event.createdAt, from, to)) continue;
            chunk += `${eventLine(event)}\n`;
            written++;
          }
          progress.increment(page.length);
          if (chunk && !out.write(chunk)) {
            await new Promise((resolve) => out.once("drain", resolve));
          }
        });
      } finally {
        progress.stop();
        if (options.out) await new Promise<void>((resolve) => out.end(() => resolve()));
      }
      if (options.out) context.note(`exported ${written} events to ${options.out}`);
    });
}

/** Instants bound by the recorded time (what `created_at` shows); positions are bound above. */
function within(createdAt: Date, from?: PositionOrTime, to?: PositionOrTime): boolean {
  if (from && "time" in from && createdAt < from.time) return false;
  if (to && "time" in to && createdAt > to.time) return false;
  return true;
}
