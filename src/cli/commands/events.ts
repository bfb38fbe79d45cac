import type { Command } from "commander";
import { parseCount, parsePosition } from "../arguments.ts";
import type { CliContext } from "../context.ts";
import { eventLine } from "../event-line.ts";

/** `events` ($all) and `stream` (one stream): JSON lines, redacted like the admin API. */
export function register(program: Command, context: CliContext): void {
  program.command("events")
    .description("$all as JSON lines (always JSON lines; --json changes nothing)")
    .option("--after <position>", "start after this position", "0")
    .option("--limit <n>", "at most this many events")
    .option("--stream-prefix <prefix>", "only streams starting with this")
    .option("--type <EventType>", "only this event type")
    .action(
      async (options: { after: string; limit?: string; streamPrefix?: string; type?: string }) => {
        const store = context.store();
        let after = parsePosition("--after", options.after);
        let remaining = options.limit === undefined
          ? Number.MAX_SAFE_INTEGER
          : parseCount("--limit", options.limit);
        const { streamPrefix: prefix, type } = options;
        const filter = prefix || type
          ? {
            ...(prefix ? { streamPrefixes: [prefix] } : {}),
            ...(type ? { eventTypes: [type] } : {}),
          }
          : undefined;
        while (remaining > 0) {
          const page = await store.readAll({
            from: after,
            maxCount: Math.min(1000, remaining),
            filter,
          });
          if (page.length === 0) break;
          for (const event of page) context.print(eventLine(event));
          remaining -= page.length;
          after = page[page.length - 1].position;
        }
      },
    );

  program.command("stream")
    .description("one stream as JSON lines")
    .argument("<name>", "the stream name, e.g. account-<id>")
    .action(async (name: string) => {
      for (const event of await context.store().readStream(name)) context.print(eventLine(event));
    });
}
