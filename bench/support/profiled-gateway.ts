/**
 * src/main.ts for profiling: the same app and config, but SIGTERM closes it and exits with 0,
 * so `deno run --cpu-prof …` gets to write its profile (a signal death writes none). Used by
 * `BENCH_GATEWAY_ENTRY=bench/support/profiled-gateway.ts BENCH_GATEWAY_DENO_FLAGS=--cpu-prof-dir=…`.
 */
import process from "node:process";
import { createApp } from "../../src/app.ts";
import { loadConfig } from "../../src/config/config.ts";

const config = loadConfig(process.env);
const app = await createApp(config);
await app.listen({ port: config.port, host: config.host });
process.once("SIGTERM", async () => {
  await app.close();
  process.exit(0);
});
