/**
 * Operators' audit and replay tooling: `npm run cli -- <command>`. Reads the same
 * configuration as the service (DATA_DIR, EVENTSTORE_CONNECTION_STRING, INSTANCE_ID).
 *
 *   audit [--account <id>]            replay every ledger and check it (exit 1 on a problem)
 *   balance <accountId> [--at <ISO>]  an account's balance now or at an instant, by replay
 *   events [--after N] [--limit N] [--stream-prefix P] [--type T]   $all as JSON lines
 *   stream <name>                     one stream as JSON lines
 *   projections                       checkpoints of this instance's read models
 */
import { existsSync } from "node:fs";
import process from "node:process";
import { DatabaseSync } from "node:sqlite";
import { visibleEventData } from "../auth/hidden-fields.ts";
import { microsToUsd } from "../common/money.ts";
import { ConfigError, loadConfig } from "../config/config.ts";
import { createEventStore } from "../event-store/create-event-store.ts";
import type { RecordedEvent } from "../event-store/event-store.port.ts";
import { EVENT_SCHEMAS } from "../event-schemas.ts";
import { listCheckpoints } from "../projections/projection-checkpoints.ts";
import { readModelDatabasePath } from "../projections/read-model.database.ts";
import { auditLedgers, balanceAt } from "./ledger-audit.ts";

const USAGE = `usage: npm run cli -- <audit|balance|events|stream|projections> [options]
  audit [--account <id>]
  balance <accountId> [--at <ISO time>]
  events [--after <position>] [--limit <n>] [--stream-prefix <prefix>] [--type <EventType>]
  stream <stream name>
  projections`;

function flag(args: string[], name: string): string | undefined {
  const index = args.indexOf(`--${name}`);
  return index >= 0 ? args[index + 1] : undefined;
}

/** One event as a JSON line, redacted as the admin API redacts it. */
function line(event: RecordedEvent): string {
  return JSON.stringify({
    position: String(event.position),
    stream: event.stream,
    revision: String(event.revision),
    type: event.type,
    id: event.id,
    created_at: event.createdAt.toISOString(),
    data: visibleEventData(event),
    metadata: event.metadata,
  });
}

async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  if (!command || command === "help" || command === "--help") {
    console.log(USAGE);
    return command ? 0 : 2;
  }
  const config = loadConfig(process.env);
  const readModelsPath = readModelDatabasePath(config.dataDir, config.instanceId);

  if (command === "projections") {
    if (!existsSync(readModelsPath)) {
      console.error(`no read-model database at ${readModelsPath}`);
      return 1;
    }
    const db = new DatabaseSync(readModelsPath, { readOnly: true });
    for (const row of listCheckpoints(db)) {
      console.log(JSON.stringify(row));
    }
    db.close();
    return 0;
  }

  const store = createEventStore(config, EVENT_SCHEMAS);
  try {
    switch (command) {
      case "audit": {
        const readModels = existsSync(readModelsPath)
          ? new DatabaseSync(readModelsPath, { readOnly: true })
          : undefined;
        const report = await auditLedgers(store, { readModels, accountId: flag(rest, "account") });
        readModels?.close();
        console.log(JSON.stringify(
          {
            ...report,
            total_balance_usd: microsToUsd(report.totalBalanceMicros),
            compared_with_read_model: readModels ? readModelsPath : null,
          },
          null,
          2,
        ));
        return report.problems === 0 ? 0 : 1;
      }
      case "balance": {
        const accountId = rest.find((arg) => !arg.startsWith("--") && arg !== flag(rest, "at"));
        if (!accountId) throw new UsageError("balance needs an account id");
        const atText = flag(rest, "at");
        const at = atText ? new Date(atText) : new Date();
        if (Number.isNaN(at.getTime())) throw new UsageError(`--at is not an ISO time: ${atText}`);
        const result = await balanceAt(store, accountId, at);
        console.log(JSON.stringify({
          account_id: accountId,
          at: at.toISOString(),
          balance_usd: microsToUsd(result.balanceMicros),
          held_usd: microsToUsd(result.heldMicros),
          events_replayed: result.events,
        }));
        return 0;
      }
      case "events": {
        let after = BigInt(flag(rest, "after") ?? "0");
        let remaining = Number(flag(rest, "limit") ?? Number.MAX_SAFE_INTEGER);
        const prefix = flag(rest, "stream-prefix");
        const type = flag(rest, "type");
        const filter = prefix || type
          ? {
            ...(prefix ? { streamPrefixes: [prefix] } : {}),
            ...(type ? { eventTypes: [type] } : {}),
          }
          : undefined;
        while (remaining > 0) {
          const page = await store.readAll({
            from: after,
            maxCount: Math.min(1000, remaining),
            filter,
          });
          if (page.length === 0) break;
          for (const event of page) console.log(line(event));
          remaining -= page.length;
          after = page[page.length - 1].position;
        }
        return 0;
      }
      case "stream": {
        if (!rest[0]) throw new UsageError("stream needs a stream name");
        for (const event of await store.readStream(rest[0])) console.log(line(event));
        return 0;
      }
      default:
        throw new UsageError(`unknown command ${command}`);
    }
  } finally {
    await store.close();
  }
}

class UsageError extends Error {}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  if (error instanceof UsageError || error instanceof ConfigError) {
    console.error(`${error.message}\n${USAGE}`);
    process.exitCode = 2;
  } else {
    console.error(`error: ${(error as Error).message}`);
    process.exitCode = 1;
  }
}
