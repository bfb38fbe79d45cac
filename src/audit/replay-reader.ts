import { existsSync, readdirSync, statSync } from "node:fs";
import { DatabaseSync } from "node:sqlite";
import { microsToUsd } from "../common/money.ts";
import { REPLAY_NAME, replayPath, replaysDirectory } from "./replay.ts";

/**
 * Read-only queries over the replay files `cli replay` writes (DATA_DIR/replays/<name>.sqlite):
 * what the admin API answers under /admin/replays. Each call opens the file read-only and
 * closes it, so a replay being rebuilt or deleted is never held open.
 */
export interface ReplaySummary {
  name: string;
  bytes: number;
  bound: string | null;
  last_position: number | null;
  last_recorded_at: string | null;
  events: number | null;
  built_at: string | null;
}

const MAX_LISTED = 500;

export function listReplays(dataDir: string): ReplaySummary[] {
  const directory = replaysDirectory(dataDir);
  if (!existsSync(directory)) return [];
  const names = readdirSync(directory)
    .filter((file) => file.endsWith(".sqlite"))
    .map((file) => file.slice(0, -".sqlite".length))
    .filter((name) => REPLAY_NAME.test(name))
    .sort()
    .slice(0, MAX_LISTED);
  return names.map((name) => {
    const path = replayPath(dataDir, name)!;
    const info = withReplay(dataDir, name, (db) => replayInfo(db)) ?? {};
    return {
      name,
      bytes: statSync(path).size,
      bound: info.bound ?? null,
      last_position: info.last_position ? Number(info.last_position) : null,
      last_recorded_at: info.last_recorded_at || null,
      events: info.events ? Number(info.events) : null,
      built_at: info.built_at ?? null,
    };
  });
}

/**
 * Runs `read` on a replay opened read-only; undefined when there is no such replay (an unsafe
 * name is "no such replay": nothing outside DATA_DIR/replays can be named).
 */
export function withReplay<T>(
  dataDir: string,
  name: string,
  read: (db: DatabaseSync) => T,
): T | undefined {
  const path = replayPath(dataDir, name);
  if (!path || !existsSync(path)) return undefined;
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    return read(db);
  } finally {
    db.close();
  }
}

function replayInfo(db: DatabaseSync): Record<string, string> {
  if (!hasTable(db, "replay_info")) return {};
  const rows = db.prepare("SELECT key, value FROM replay_info").all() as Array<
    { key: string; value: string }
  >;
  return Object.fromEntries(rows.map((row) => [row.key, row.value]));
}

function hasTable(db: DatabaseSync, name: string): boolean {
  return db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !==
    undefined;
}

/** An account's balance in the replay (null: the account had no ledger by then). */
export function replayBalance(db: DatabaseSync, accountId: string) {
  const info = replayInfo(db);
  const row = hasTable(db, "billing_balances")
    ? db.prepare(
      "SELECT balance_micros, held_micros FROM billing_balances WHERE account_id = ?",
    ).get(accountId) as { balance_micros: number; held_micros: number } | undefined
    : undefined;
  return {
    account_id: accountId,
    as_of_position: info.last_position ? Number(info.last_position) : 0,
    as_of_recorded_at: info.last_recorded_at || null,
    balance_usd: microsToUsd(row?.balance_micros ?? 0),
    held_usd: microsToUsd(row?.held_micros ?? 0),
    available_usd: microsToUsd((row?.balance_micros ?? 0) - (row?.held_micros ?? 0)),
  };
}

/** An account's transactions in the replay, newest first, paged by an exclusive position cursor. */
export function replayTransactions(
  db: DatabaseSync,
  accountId: string,
  limit: number,
  before?: bigint,
) {
  const rows = hasTable(db, "billing_transactions")
    ? db.prepare(
      `SELECT position, transaction_id, type, amount_micros, balance_after_micros, reference,
              description, model, created_at
         FROM billing_transactions
        WHERE account_id = ? AND position < ?
        ORDER BY position DESC LIMIT ?`,
    ).all(accountId, before ?? Number.MAX_SAFE_INTEGER, limit + 1) as Array<
      Record<string, any>
    >
    : [];
  const page = rows.slice(0, limit);
  return {
    object: "list" as const,
    data: page.map((row) => ({
      id: row.transaction_id,
      position: row.position,
      type: row.type,
      amount_usd: microsToUsd(row.amount_micros),
      balance_after_usd: microsToUsd(row.balance_after_micros),
      reference: row.reference,
      description: row.description,
      model: row.model,
      created_at: row.created_at,
    })),
    has_more: rows.length > limit,
    next_before: rows.length > limit ? String(page[page.length - 1].position) : null,
  };
}
