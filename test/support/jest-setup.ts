import process from "node:process";
import { logger } from "../../src/common/json-logger.ts";
import type { LogLevel } from "../../src/config/config.ts";

// Quiet by default; TEST_LOG_LEVEL=debug shows the app's JSON logs while debugging a test.
logger.setLevel((process.env.TEST_LOG_LEVEL as LogLevel | undefined) ?? "silent");
