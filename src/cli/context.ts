import { existsSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import type { Command } from "commander";
import { type AppConfig, ConfigError, loadConfig } from "../config/config.ts";
import { createEventStore } from "../event-store/create-event-store.ts";
import type { EventStore } from "../event-store/event-store.port.ts";
import { EVENT_SCHEMAS } from "../event-schemas.ts";
import { readModelDatabasePath } from "../projections/read-model.database.ts";
import { CliError, EXIT, type ExitCode } from "./exit-codes.ts";
import { type Progress, startProgress } from "./progress.ts";

/** The options every command accepts (declared once on the program). */
export interface GlobalOptions {
  /** Machine-readable output on stdout; no progress bars. */
  json?: boolean;
  /** Overrides DATA_DIR for this run. */
  dataDir?: string;
}

/**
 * What a command module gets: the configuration (read lazily, so `--help` works without one),
 * the event store, the read-model path, output helpers and progress bars. One per process.
 */
export interface CliContext {
  /** The program's global options as parsed (call inside an action). */
  globals(): GlobalOptions;
  /** The service's configuration (env + --data-dir); a ConfigError exits 3. */
  config(): AppConfig;
  /**
   * The configured event store (SQLite or EventStoreDB) behind the event schemas, opened once
   * and closed by main after the action. Exits 3 when an embedded store does not exist yet.
   */
  store(): EventStore;
  /** This instance's read-model database file (it may not exist). */
  readModelsPath(): string;
  /** A line to stdout. */
  print(line: string): void;
  /** A JSON document to stdout: pretty when `pretty`, one line otherwise. */
  printJson(value: unknown, pretty?: boolean): void;
  /** A note to stderr (never mixed into --json stdout). */
  note(line: string): void;
  /** A progress bar on stderr, shown only on a terminal and without --json. */
  progress(label: string, total: number, unit?: string): Progress;
  /** The process's exit code when the action returns (default EXIT.OK); e.g. EXIT.FINDING. */
  setExitCode(code: ExitCode): void;
  /** The exit code set so far. */
  exitCode(): ExitCode;
}

export function createCliContext(program: Command): CliContext {
  let config: AppConfig | undefined;
  let store: EventStore | undefined;
  let exitCode: ExitCode = EXIT.OK;
  const globals = () => program.opts<GlobalOptions>();
  const context: CliContext = {
    globals,
    config() {
      if (config) return config;
      const dataDir = globals().dataDir;
      try {
        config = loadConfig(dataDir ? { ...process.env, DATA_DIR: dataDir } : process.env);
      } catch (error) {
        if (error instanceof ConfigError) throw new CliError(error.message, EXIT.UNAVAILABLE);
        throw error;
      }
      return config;
    },
    store() {
      if (store) return store;
      const current = context.config();
      if (
        !current.eventStoreConnectionString &&
        !existsSync(join(current.dataDir, "events.sqlite"))
      ) {
        throw new CliError(
          `no event store at ${
            join(current.dataDir, "events.sqlite")
          } (set DATA_DIR or --data-dir)`,
          EXIT.UNAVAILABLE,
        );
      }
      store = createEventStore(current, EVENT_SCHEMAS);
      return store;
    },
    readModelsPath() {
      const current = context.config();
      return readModelDatabasePath(current.dataDir, current.instanceId);
    },
    print(line) {
      process.stdout.write(`${line}\n`);
    },
    printJson(value, pretty = false) {
      process.stdout.write(`${JSON.stringify(value, jsonBigints, pretty ? 2 : undefined)}\n`);
    },
    note(line) {
      process.stderr.write(`${line}\n`);
    },
    progress(label, total, unit) {
      return startProgress(label, total, { json: globals().json, unit });
    },
    setExitCode(code) {
      exitCode = code;
    },
    exitCode: () => exitCode,
  };
  return Object.assign(context, {
    /** main closes the store after the action; not part of the command-facing API. */
    async close() {
      await store?.close();
      store = undefined;
    },
  });
}

/** Positions are bigints; JSON has no bigint, so they print as strings. */
function jsonBigints(_key: string, value: unknown) {
  return typeof value === "bigint" ? String(value) : value;
}
