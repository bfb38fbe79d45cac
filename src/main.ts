import process from "node:process";
import { createApp } from "./app.ts";
import { ConfigError, loadConfig } from "./config/config.ts";
import { logger } from "./common/json-logger.ts";

/** A bad setting stops the process with one clear line naming the variable, never a stack. */
function exitOnConfigError(error: unknown): never {
  if (error instanceof ConfigError) {
    console.error(`Configuration error: ${error.message}`);
    process.exit(1);
  }
  throw error;
}

let config;
try {
  config = loadConfig(process.env);
} catch (error) {
  exitOnConfigError(error);
}

// Some settings (MODELS_FILE) are read while the modules are built.
const app = await createApp(config).catch(exitOnConfigError);
// Explicit signals: Nest's default list includes ones Deno refuses to bind (SIGILL, …).
app.enableShutdownHooks(["SIGTERM", "SIGINT"]);
await app.listen({ port: config.port, host: config.host });
const address = app.getHttpServer().address();
logger.write("info", "listening", {
  address: typeof address === "object" && address ? `${address.address}:${address.port}` : address,
  dataDir: config.dataDir,
  eventStore: config.eventStoreConnectionString ? "eventstoredb" : "embedded-sqlite",
});

// Graceful shutdown is Nest's: stop accepting, drain in-flight requests, stop projections,
// flush and close the event store. A hung drain must not hold the process forever.
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.once(signal, () => {
    setTimeout(() => {
      logger.write("warn", "shutdown grace period exceeded; exiting", { signal });
      process.exit(1);
    }, config.shutdownGraceMs).unref();
  });
}
