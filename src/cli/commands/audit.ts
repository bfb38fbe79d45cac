import { existsSync } from "node:fs";
import { DatabaseSync } from "node:sqlite";
import type { Command } from "commander";
import { microsToUsd } from "../../common/money.ts";
import type { CliContext } from "../context.ts";
import { EXIT } from "../exit-codes.ts";
import { auditLedgers } from "../ledger-audit.ts";

export function register(program: Command, context: CliContext): void {
  program.command("audit")
    .description(
      "replay every ledger and check it against the billing read model (exit 1 on a problem)",
    )
    .option("--account <id>", "audit one account only")
    .action(async (options: { account?: string }) => {
      const readModelsPath = context.readModelsPath();
      const readModels = existsSync(readModelsPath)
        ? new DatabaseSync(readModelsPath, { readOnly: true })
        : undefined;
      try {
        const report = await auditLedgers(context.store(), {
          readModels,
          accountId: options.account,
        });
        // Always JSON (the report has always been JSON): --json only makes it one line.
        context.printJson({
          ...report,
          total_balance_usd: microsToUsd(report.totalBalanceMicros),
          compared_with_read_model: readModels ? readModelsPath : null,
        }, !context.globals().json);
        if (report.problems > 0) context.setExitCode(EXIT.FINDING);
      } finally {
        readModels?.close();
      }
    });
}
