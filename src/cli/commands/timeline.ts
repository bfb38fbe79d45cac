import type { Command } from "commander";
import { accountTimeline } from "../../audit/timeline.ts";
import { parseCount, parsePosition } from "../arguments.ts";
import type { CliContext } from "../context.ts";

export function register(program: Command, context: CliContext): void {
  program.command("timeline")
    .description(
      "every event that touched an account, in order, each with its cause and links " +
        "(request → hold → settlement, job → charge → refund, payment → purchase → bonus)",
    )
    .argument("<accountId>", "the account")
    .option("--after <position>", "start after this position")
    .option("--limit <n>", "at most this many events")
    .action(async (accountId: string, options: { after?: string; limit?: string }) => {
      const store = context.store();
      const head = await store.headPosition();
      const progress = context.progress("timeline", Number(head));
      let done = options.after ? parsePosition("--after", options.after) : 0n;
      let page;
      try {
        page = await accountTimeline(store, accountId, {
          after: done,
          limit: options.limit ? parseCount("--limit", options.limit) : undefined,
          onProgress: (position) => {
            progress.increment(Number(position - done));
            done = position;
          },
        });
      } finally {
        progress.stop();
      }
      if (context.globals().json) {
        context.printJson({
          account_id: accountId,
          data: page.entries,
          next_after: page.nextAfter,
        });
        return;
      }
      for (const entry of page.entries) {
        const links = entry.links
          .map((link) => `${link.rel}:${link.id}${link.position ? `@${link.position}` : ""}`)
          .join(" ");
        context.print(
          `${String(entry.position).padStart(8)}  ${entry.at}  ${entry.type.padEnd(24)} ` +
            `${entry.cause.kind}:${entry.cause.id}${links ? `  ← ${links}` : ""}`,
        );
      }
    });
}
