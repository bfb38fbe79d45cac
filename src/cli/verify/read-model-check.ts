import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { allProjections } from "../../audit/all-projections.ts";
import type { RecordedEvent } from "../../event-store/event-store.port.ts";
import { ReadModelDatabase } from "../../projections/read-model.database.ts";
import { ProjectionFeeder } from "../projection-feeder.ts";
import type { Findings } from "./findings.ts";

/** Rows of a differing table shown in a finding. */
const SAMPLE_ROWS = 3;

/**
 * read-models: every projection rebuilt from zero into a temporary database, fed from verify's
 * own pass, then compared with the live read-model file table by table, row for row (as
 * multisets: the rows of each side absent from the other, and the counts).
 */
export class ReadModelCheck {
  private readonly directory = mkdtempSync(join(tmpdir(), "modelpilot-verify-"));
  private readonly rebuilt = new ReadModelDatabase(join(this.directory, "rebuilt.sqlite"));
  private readonly feeder = new ProjectionFeeder(this.rebuilt.db, allProjections());

  constructor(private readonly findings: Findings, private readonly livePath: string) {}

  applyPage(page: readonly RecordedEvent[]): void {
    this.feeder.apply(page);
  }

  /** Compares and removes the temporary database; returns the tables compared. */
  finish(head: bigint): number {
    try {
      this.feeder.finish(head);
      this.rebuilt.close();
      return this.compare();
    } finally {
      rmSync(this.directory, { recursive: true, force: true });
    }
  }

  private compare(): number {
    const live = new DatabaseSync(this.livePath, { readOnly: true });
    try {
      live.exec(`ATTACH DATABASE '${join(this.directory, "rebuilt.sqlite")}' AS rebuilt`);
      const tables = live.prepare(
        `SELECT name FROM rebuilt.sqlite_master WHERE type = 'table'
         AND name NOT LIKE 'sqlite_%' AND name != 'projection_checkpoints' ORDER BY name`,
      ).all() as { name: string }[];
      for (const { name } of tables) this.compareTable(live, name);
      return tables.length;
    } finally {
      live.close();
    }
  }

  private compareTable(live: DatabaseSync, table: string): void {
    const exists = live.prepare(
      "SELECT 1 FROM main.sqlite_master WHERE type = 'table' AND name = ?",
    ).get(table);
    if (!exists) {
      this.findings.add("read-models", `live read model has no table ${table}`);
      return;
    }
    // The rebuilt table's columns: a live table may have extra (retired) columns at its end.
    const columns = (live.prepare(`PRAGMA rebuilt.table_info("${table}")`).all() as {
      name: string;
    }[]).map((column) => `"${column.name}"`).join(", ");
    const count = (schema: string) =>
      Number(
        (live.prepare(`SELECT count(*) AS n FROM ${schema}."${table}"`).get() as { n: number }).n,
      );
    const rebuiltRows = count("rebuilt");
    const liveRows = count("main");
    const missing = live.prepare(
      `SELECT ${columns} FROM rebuilt."${table}" EXCEPT SELECT ${columns} FROM main."${table}" LIMIT ${SAMPLE_ROWS}`,
    ).all();
    const extra = live.prepare(
      `SELECT ${columns} FROM main."${table}" EXCEPT SELECT ${columns} FROM rebuilt."${table}" LIMIT ${SAMPLE_ROWS}`,
    ).all();
    if (rebuiltRows === liveRows && missing.length === 0 && extra.length === 0) return;
    this.findings.add(
      "read-models",
      `table ${table}: rebuilt ${rebuiltRows} rows, live ${liveRows}; rebuilt rows not live: ${
        JSON.stringify(missing, bigints)
      }; live rows not rebuilt: ${JSON.stringify(extra, bigints)}`,
    );
  }
}

function bigints(_key: string, value: unknown) {
  return typeof value === "bigint" ? String(value) : value;
}
