/**
 * Child process for the kill -9 durability test: appends continuously from many concurrent
 * writers and prints `<event id> <position>` for every acknowledged append, only after the
 * store has acknowledged it. The parent kills this process at an arbitrary moment and checks
 * that every printed event survived.
 *
 * Usage: deno run -A test/event-store/support/append-writer.ts <sqlite file> [writers] [inline|thread]
 */
import { randomUUID } from "node:crypto";
import { writeSync } from "node:fs";
import { SqliteEventStore } from "../../../src/event-store/sqlite-event-store.ts";

const [file, writersArgument, writerMode] = process.argv.slice(2);
if (!file) {
  console.error("usage: append-writer.ts <sqlite file> [writers] [inline|thread]");
  process.exit(2);
}
const writers = Number(writersArgument ?? 32);
const store = new SqliteEventStore({
  path: file,
  writer: writerMode === "inline" ? "inline" : "thread",
});

// Synchronous writes: a line the parent reads was written before the next append started.
writeSync(1, "ready\n");

async function writer(index: number): Promise<void> {
  const stream = `writer-${index}`;
  for (;;) {
    const id = randomUUID();
    const result = await store.append(stream, [{ id, type: "Appended", data: { index } }]);
    writeSync(1, `${id} ${result.position}\n`);
  }
}

await Promise.all(Array.from({ length: writers }, (_, index) => writer(index)));
