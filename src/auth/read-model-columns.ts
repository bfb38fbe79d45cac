import type { DatabaseSync } from "node:sqlite";

/**
 * Adds the columns a table created by an older release lacks (`CREATE TABLE IF NOT EXISTS`
 * leaves an existing table as it was). Only for columns whose NULL/default is right for every
 * existing row, so no rebuild is needed.
 */
export function ensureColumns(
  db: DatabaseSync,
  table: string,
  columns: Record<string, string>,
): void {
  const existing = new Set(
    (db.prepare(`PRAGMA table_info(${table})`).all() as Array<{ name: string }>).map((column) =>
      column.name
    ),
  );
  for (const [name, definition] of Object.entries(columns)) {
    if (!existing.has(name)) db.exec(`ALTER TABLE ${table} ADD COLUMN ${name} ${definition}`);
  }
}
