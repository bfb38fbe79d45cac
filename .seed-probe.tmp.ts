import { randomUUID } from "node:crypto";
import { rmSync } from "node:fs";
import { DatabaseSync } from "node:sqlite";
import { SqliteEventStore } from "./src/event-store/sqlite-event-store.ts";
const mmap = process.argv[2] === "mmap";
const path = "/tmp/seed-probe.sqlite";
for (const s of ["", "-wal", "-shm"]) rmSync(path + s, { force: true });
const store = new SqliteEventStore({ path });
if (mmap) (store as any).db.exec("PRAGMA mmap_size = 1073741824");
const t = performance.now();
for (let b = 0; b < 400; b++) {
  await store.append(`account-${b}`, Array.from({ length: 1000 }, () => ({ id: randomUUID(), type: "X", data: { a: 1 }, metadata: { correlationId: randomUUID() } })));
  if (b % 100 === 99) console.log(b + 1, Math.round(performance.now() - t));
}
await store.close();
