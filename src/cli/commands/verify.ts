import { existsSync } from "node:fs";
import type { Command } from "commander";
import { parseInstant } from "../arguments.ts";
import type { CliContext } from "../context.ts";
import { EXIT, UsageError } from "../exit-codes.ts";
import { INVARIANT_NAMES, type InvariantName, INVARIANTS } from "../verify/findings.ts";
import { type VerifyReport, verifyStore } from "../verify/verify.ts";

/** A late settlement is retried and reconciled within this; younger work may still settle. */
const SETTLEMENT_GRACE_MS = 15 * 60_000;

export function register(program: Command, context: CliContext): void {
  program.command("verify")
    .description(
      "check every money invariant over the whole history in one pass (exit 1 on a violation)",
    )
    .option(
      "--invariant <name...>",
      `only these invariants: ${INVARIANT_NAMES.join(", ")}`,
    )
    .option("--now <iso>", "the end of history for expiry rules (default: the latest event time)")
    .option("--list", "list the invariants and exit")
    .action(async (options: { invariant?: string[]; now?: string; list?: boolean }) => {
      if (options.list) {
        if (context.globals().json) context.printJson(INVARIANTS, true);
        else for (const name of INVARIANT_NAMES) context.print(`${name}: ${INVARIANTS[name]}`);
        return;
      }
      const invariants = new Set<InvariantName>(
        (options.invariant ?? INVARIANT_NAMES).map((name) => {
          if (!(name in INVARIANTS)) {
            throw new UsageError(
              `unknown invariant ${name} (one of ${INVARIANT_NAMES.join(", ")})`,
            );
          }
          return name as InvariantName;
        }),
      );
      const now = options.now ? parseInstant("--now", options.now).toISOString() : undefined;
      const config = context.config();
      const store = context.store();
      const livePath = context.readModelsPath();
      const progress = context.progress("verify", Number(await store.headPosition()));
      let report: VerifyReport;
      try {
        report = await verifyStore(store, {
          invariants,
          now,
          // hold-expiry.process.ts: a quarter of the hold TTL, between 1 s and 60 s.
          holdSweepMs: Math.min(60_000, Math.max(1_000, config.reservationTtlSeconds * 250)),
          meteringGraceMs: config.meteringIntervalMs + 60_000,
          settlementGraceMs: SETTLEMENT_GRACE_MS,
          liveReadModels: existsSync(livePath) ? livePath : undefined,
          progress,
        });
      } finally {
        progress.stop();
      }
      if (!report.ok) context.setExitCode(EXIT.FINDING);
      if (context.globals().json) return context.printJson(report, true);
      printReport(context, report);
    });
}

function printReport(context: CliContext, report: VerifyReport): void {
  context.print(
    `verified ${report.events} events (head ${report.head}, now ${report.now}) in ${report.seconds} s, ${report.eventsPerSecond} events/s`,
  );
  for (const { name, violations } of report.invariants) {
    context.print(
      `${violations === 0 ? "ok  " : "FAIL"} ${name}${
        violations ? `: ${violations} violation${violations === 1 ? "" : "s"}` : ""
      }`,
    );
  }
  for (const { name, reason } of report.skipped) context.print(`skip ${name}: ${reason}`);
  for (const finding of report.findings) {
    const where = finding.event
      ? ` [position ${finding.event.position}, stream ${finding.event.stream}, ${finding.event.type} ${finding.event.id}]`
      : "";
    context.print(`  ${finding.invariant}: ${finding.message}${where}`);
  }
  context.print(report.ok ? "all invariants hold" : "INVARIANTS VIOLATED");
}
