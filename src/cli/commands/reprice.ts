import type { Command } from "commander";
import { loadPriceFile, reprice, repriceJson, repriceTable } from "../../audit/reprice.ts";
import { parseInstant } from "../arguments.ts";
import type { CliContext } from "../context.ts";
import { UsageError } from "../exit-codes.ts";

export function register(program: Command, context: CliContext): void {
  program.command("reprice")
    .description(
      "what a period's recorded usage would have cost under another price table " +
        "(MODELS_FILE format); writes nothing",
    )
    .requiredOption(
      "--prices <file>",
      'a price file: {"models":[{"id","price_usd"|"realtime_pricing"}]}',
    )
    .option("--from <iso>", "start of the period, inclusive (default: the beginning)")
    .option("--to <iso>", "end of the period, exclusive (default: now)")
    .action(async (options: { prices: string; from?: string; to?: string }) => {
      const from = options.from ? parseInstant("--from", options.from) : new Date(0);
      const to = options.to ? parseInstant("--to", options.to) : new Date();
      let prices;
      try {
        prices = loadPriceFile(options.prices);
      } catch (error) {
        throw new UsageError(`--prices: ${(error as Error).message}`);
      }
      const store = context.store();
      const progress = context.progress("reprice", Number(await store.headPosition()));
      let done = 0n;
      let rows;
      try {
        rows = await reprice(store, prices, from, to, (position) => {
          progress.increment(Number(position - done));
          done = position;
        });
      } finally {
        progress.stop();
      }
      if (context.globals().json) context.printJson(repriceJson(rows, from, to), true);
      else context.print(repriceTable(rows));
    });
}
