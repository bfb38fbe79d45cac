import type { LoggerService } from "@nestjs/common";

export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";

const LEVEL_RANK: Record<LogLevel, number> = {
  debug: 10,
  info: 20,
  warn: 30,
  error: 40,
  silent: 99,
};

/**
 * Structured JSON logs, one object per line on stdout. Used as Nest's logger and directly by
 * the HTTP hooks. Never pass secrets, request bodies or Authorization headers in `fields`.
 */
export class JsonLogger implements LoggerService {
  constructor(private level: LogLevel = "info") {}

  setLevel(level: LogLevel): void {
    this.level = level;
  }

  write(level: Exclude<LogLevel, "silent">, message: string, fields: Record<string, unknown> = {}) {
    if (LEVEL_RANK[level] < LEVEL_RANK[this.level]) return;
    const line = JSON.stringify({ time: new Date().toISOString(), level, msg: message, ...fields });
    if (level === "error" || level === "warn") console.error(line);
    else console.log(line);
  }

  log(message: unknown, context?: string) {
    this.write("info", String(message), context ? { context } : {});
  }
  error(message: unknown, stackOrContext?: string, context?: string) {
    // Stack traces go to our own logs only, never to clients.
    const fields: Record<string, unknown> = {};
    if (context) fields.context = context;
    if (stackOrContext && stackOrContext.includes("\n")) fields.stack = stackOrContext;
    else if (stackOrContext) fields.context = stackOrContext;
    this.write("error", message instanceof Error ? message.message : String(message), fields);
  }
  warn(message: unknown, context?: string) {
    this.write("warn", String(message), context ? { context } : {});
  }
  debug(message: unknown, context?: string) {
    this.write("debug", String(message), context ? { context } : {});
  }
  verbose(message: unknown, context?: string) {
    this.write("debug", String(message), context ? { context } : {});
  }
}

/**
 * The process-wide logger. Its level is set from the validated configuration (`LOG_LEVEL`) by
 * app.ts; config/ stays the one place the environment is read.
 */
export const logger = new JsonLogger("info");
