/**
 * Operators' audit and replay tooling: `npm run cli -- <command> [options]`, `--help` on any
 * command. Reads the same configuration as the service (DATA_DIR, EVENTSTORE_CONNECTION_STRING,
 * INSTANCE_ID) and works on the embedded store and EventStoreDB alike. Each command lives in
 * commands/ and is listed in commands.ts; exit codes are in exit-codes.ts.
 */
import process from "node:process";
import { Command, CommanderError } from "commander";
import { EventStoreUnavailable } from "../event-store/event-store.port.ts";
import { COMMANDS } from "./commands.ts";
import { createCliContext } from "./context.ts";
import { CliError, EXIT, type ExitCode } from "./exit-codes.ts";

const USAGE = "usage: npm run cli -- <command> [options]   (npm run cli -- --help lists them)";

async function main(argv: string[]): Promise<ExitCode> {
  const program = new Command("npm run cli --")
    .description("ModelPilot audit and replay tooling")
    .option("--json", "machine-readable output on stdout, no progress bars")
    .option("--data-dir <dir>", "the data directory (default DATA_DIR, else ./data)")
    .showHelpAfterError(USAGE)
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(text) });
  const context = createCliContext(program);
  for (const command of COMMANDS) command.register(program, context);
  for (const command of program.commands) command.exitOverride();
  try {
    await program.parseAsync(argv, { from: "user" });
    return context.exitCode();
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version "fail" with exit code 0; every parse error is a usage error.
      return error.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    }
    if (error instanceof CliError) {
      console.error(`error: ${error.message}`);
      if (error.exitCode === EXIT.USAGE) console.error(USAGE);
      return error.exitCode;
    }
    if (error instanceof EventStoreUnavailable) {
      console.error(`error: cannot reach the event store: ${error.message}`);
      return EXIT.UNAVAILABLE;
    }
    console.error(`error: ${(error as Error).stack ?? error}`);
    return EXIT.FINDING;
  } finally {
    await (context as unknown as { close(): Promise<void> }).close();
  }
}

process.exitCode = await main(process.argv.slice(2));
