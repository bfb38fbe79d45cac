/**
 * Every CLI command, one module each, registered in this order (the order `--help` lists).
 * A new command: add its module under commands/ exporting `register(program, context)` and
 * list it here.
 */
import type { Command } from "commander";
import type { CliContext } from "./context.ts";
import * as audit from "./commands/audit.ts";
import * as balance from "./commands/balance.ts";
import * as events from "./commands/events.ts";
import * as projections from "./commands/projections.ts";
import * as verify from "./commands/verify.ts";
import * as rebuild from "./commands/rebuild.ts";
import * as exportEvents from "./commands/export.ts";
import * as replay from "./commands/replay.ts";
import * as reprice from "./commands/reprice.ts";
import * as statement from "./commands/statement.ts";
import * as timeline from "./commands/timeline.ts";

export interface CommandModule {
  register(program: Command, context: CliContext): void;
}

export const COMMANDS: CommandModule[] = [
  audit,
  balance,
  events,
  projections,
  verify,
  rebuild,
  exportEvents,
  replay,
  statement,
  timeline,
  reprice,
];
