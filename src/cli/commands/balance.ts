import type { Command } from "commander";
import { microsToUsd } from "../../common/money.ts";
import { parseInstant } from "../arguments.ts";
import type { CliContext } from "../context.ts";
import { balanceAt } from "../ledger-audit.ts";

export function register(program: Command, context: CliContext): void {
  program.command("balance")
    .description("an account's balance now or at an instant, replayed from its ledger")
    .argument("<accountId>", "the account")
    .option("--at <iso>", "an ISO time (default now)")
    .action(async (accountId: string, options: { at?: string }) => {
      const at = options.at ? parseInstant("--at", options.at) : new Date();
      const result = await balanceAt(context.store(), accountId, at);
      context.printJson({
        account_id: accountId,
        at: at.toISOString(),
        balance_usd: microsToUsd(result.balanceMicros),
        held_usd: microsToUsd(result.heldMicros),
        events_replayed: result.events,
      });
    });
}
