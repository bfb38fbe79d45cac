import process from "node:process";
import type { Command } from "commander";
import { accountStatement, statementCsv, statementJson } from "../../audit/statement.ts";
import { parseInstant } from "../arguments.ts";
import type { CliContext } from "../context.ts";
import { UsageError } from "../exit-codes.ts";

export function register(program: Command, context: CliContext): void {
  program.command("statement")
    .description(
      "an account statement from events alone: opening balance, every movement with its " +
        "cause (request, job, payment, grant and actor), closing balance",
    )
    .argument("<accountId>", "the account")
    .option("--from <iso>", "start of the period, inclusive (default: the beginning)")
    .option("--to <iso>", "end of the period, exclusive (default: now)")
    .option("--format <format>", "csv or json (default csv; json with --json)")
    .action(async (accountId: string, options: { from?: string; to?: string; format?: string }) => {
      const from = options.from ? parseInstant("--from", options.from) : new Date(0);
      const to = options.to ? parseInstant("--to", options.to) : new Date();
      if (to.getTime() < from.getTime()) throw new UsageError("--to is before --from");
      const format = options.format ?? (context.globals().json ? "json" : "csv");
      if (format !== "csv" && format !== "json") {
        throw new UsageError(`--format must be csv or json: ${format}`);
      }
      const statement = await accountStatement(context.store(), accountId, from, to);
      if (format === "json") context.printJson(statementJson(statement), true);
      else process.stdout.write(statementCsv(statement));
    });
}
