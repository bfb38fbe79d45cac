import { DatabaseSync } from "node:sqlite";
import { MultiRowInsert } from "./multi-row-insert.ts";

const TABLE = `CREATE TABLE totals (
  key TEXT PRIMARY KEY, total INTEGER NOT NULL, events INTEGER NOT NULL, last INTEGER NOT NULL)`;
const UPSERT_TAIL = `ON CONFLICT (key) DO UPDATE SET total = total + excluded.total,
  events = events + 1, last = excluded.last`;

function totals(db: DatabaseSync) {
  return db.prepare("SELECT * FROM totals ORDER BY key").all();
}

describe("MultiRowInsert", () => {
  // Sizes around each chunk boundary (512, 64, 8, 1 rows per statement) and a mix of them all.
  it.each([0, 1, 7, 8, 9, 63, 64, 65, 511, 512, 513, 1_300])(
    "upserts %i rows with repeated keys exactly as one statement per row, in order",
    (count) => {
      const rows = Array.from({ length: count }, (_, index) => ({
        key: `k${(index * 7) % 13}`,
        amount: (index % 5) - 2,
        index,
      }));
      const oneByOne = new DatabaseSync(":memory:");
      oneByOne.exec(TABLE);
      const single = oneByOne.prepare(
        `INSERT INTO totals (key, total, events, last) VALUES (?, ?, 1, ?) ${UPSERT_TAIL}`,
      );
      for (const row of rows) single.run(row.key, row.amount, row.index);

      const bulk = new DatabaseSync(":memory:");
      bulk.exec(TABLE);
      new MultiRowInsert(
        "INSERT INTO totals (key, total, events, last)",
        "(?, ?, 1, ?)",
        UPSERT_TAIL,
      )
        .run(bulk, rows.flatMap((row) => [row.key, row.amount, row.index]));

      expect(totals(bulk)).toEqual(totals(oneByOne));
      expect(totals(bulk).length).toBe(Math.min(count, 13));
    },
  );

  it("refuses values that do not make whole rows", () => {
    const db = new DatabaseSync(":memory:");
    db.exec(TABLE);
    const insert = new MultiRowInsert(
      "INSERT INTO totals (key, total, events, last)",
      "(?, ?, 1, ?)",
    );
    expect(() => insert.run(db, ["a", 1])).toThrow(RangeError);
    expect(totals(db)).toEqual([]);
  });
});
