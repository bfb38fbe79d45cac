/**
 * Child process for the cross-process spec: one of two processes appending to the same store file
 * at once. Prints `ready`, waits for a line on stdin, appends to `started` and waits until the
 * other process has too (so both work at once), then runs, all concurrently:
 * - `ownWriters` writers, each appending `appendsPerOwnWriter` single events to its own stream:
 *   `ack <id> <position>` per acknowledged append; the first waits halfway for the other
 *   process's first to have appended;
 * - `counterLoops` read-decide-append loops on the stream `counter-shared`, each appending at the
 *   revision it read and retrying on WrongExpectedVersion until `winsPerCounterLoop` succeeded:
 *   `won <revision>` per success, `conflicts <n>` at the end;
 * - `idempotentEvents` deterministic event ids (00000000-0000-4000-8000-<index in hex>), in
 *   order, to `idempotent-shared` with expected revision any, as the other process does too:
 *   `idem <index> <position>` per acknowledgement.
 * Then prints `done` and exits. Every line is written only after the store acknowledged it.
 *
 * Usage: deno run -A test/event-store/support/contending-writer.ts <file> <label> <thread|inline> <counts as JSON>
 */
import { randomUUID } from "node:crypto";
import { writeSync } from "node:fs";
import process from "node:process";
import { createInterface } from "node:readline";
import { WrongExpectedVersion } from "../../../src/event-store/event-store.port.ts";
import { SqliteEventStore } from "../../../src/event-store/sqlite-event-store.ts";

const [path, label, writerMode, countsArgument] = process.argv.slice(2);
const counts = JSON.parse(countsArgument) as {
  ownWriters: number;
  appendsPerOwnWriter: number;
  counterLoops: number;
  winsPerCounterLoop: number;
  idempotentEvents: number;
};
const store = new SqliteEventStore({ path, writer: writerMode === "inline" ? "inline" : "thread" });
// Synchronous writes: a line the parent reads was written after its acknowledgement.
const print = (line: string) => writeSync(1, `${line}\n`);

print("ready");
const lines = createInterface({ input: process.stdin });
await new Promise((resolve) => lines.once("line", resolve));
lines.close();
// A barrier through the file itself: each process starts its work only once both are running.
await store.append("started", [{ id: randomUUID(), type: "Started", data: { label } }]);
let started = await store.readStream("started");
while (started.length < 2) {
  await new Promise((resolve) => setTimeout(resolve, 5));
  started = await store.readStream("started");
}
const otherLabel = started.map((event) => (event.data as { label: string }).label)
  .find((other) => other !== label)!;

/**
 * Halfway through, the first own writer waits until the other process's has appended: however
 * the two are scheduled, each then appends both before and after the other.
 */
async function otherHasAppended(): Promise<void> {
  while ((await store.readStream(`own-${otherLabel}0`, { maxCount: 1 })).length === 0) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function ownWriter(index: number): Promise<void> {
  for (let count = 0; count < counts.appendsPerOwnWriter; count++) {
    if (index === 0 && count === Math.floor(counts.appendsPerOwnWriter / 2)) {
      await otherHasAppended();
    }
    const id = randomUUID();
    const result = await store.append(`own-${label}${index}`, [{ id, type: "Appended", data: {} }]);
    print(`ack ${id} ${result.position}`);
  }
}

let conflicts = 0;
async function counterLoop(): Promise<void> {
  for (let wins = 0; wins < counts.winsPerCounterLoop;) {
    const [last] = await store.readStream("counter-shared", {
      direction: "backwards",
      maxCount: 1,
    });
    try {
      const result = await store.append(
        "counter-shared",
        [{ id: randomUUID(), type: "Counted", data: { by: label } }],
        { expectedRevision: last ? last.revision : "no_stream" },
      );
      print(`won ${result.nextExpectedRevision}`);
      wins++;
    } catch (error) {
      if (!(error instanceof WrongExpectedVersion)) throw error;
      conflicts++;
    }
  }
}

async function idempotentWriter(): Promise<void> {
  for (let index = 0; index < counts.idempotentEvents; index++) {
    const id = `00000000-0000-4000-8000-${index.toString(16).padStart(12, "0")}`;
    const result = await store.append("idempotent-shared", [{
      id,
      type: "Shared",
      data: { index },
    }]);
    print(`idem ${index} ${result.position}`);
  }
}

await Promise.all([
  ...Array.from({ length: counts.ownWriters }, (_, index) => ownWriter(index)),
  ...Array.from({ length: counts.counterLoops }, counterLoop),
  idempotentWriter(),
]);
print(`conflicts ${conflicts}`);
await store.close();
print("done");
