/**
 * One of the processes of bench:events' cross-process section: opens the store file given as
 * argument, prints `{"ready": true}`, waits for a line on stdin, then runs `writers` concurrent
 * writers, each awaiting `perWriter` single-event appends to its own stream, and prints one JSON
 * line with its elapsed time and group-commit counters. Exits when done.
 *
 * Usage: deno run -A bench/support/append-process.ts <file> <label> <writers> <perWriter> <thread|inline>
 */
import { randomUUID } from "node:crypto";
import process from "node:process";
import { createInterface } from "node:readline";
import { SqliteEventStore } from "../../src/event-store/sqlite-event-store.ts";

const [path, label, writersArgument, perWriterArgument, writerMode] = process.argv.slice(2);
const writers = Number(writersArgument);
const perWriter = Number(perWriterArgument);
const store = new SqliteEventStore({ path, writer: writerMode === "inline" ? "inline" : "thread" });

const reply = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);
reply({ ready: true });
const lines = createInterface({ input: process.stdin });
await new Promise((resolve) => lines.once("line", resolve));
lines.close();

const started = performance.now();
await Promise.all(Array.from({ length: writers }, async (_, writer) => {
  const account = `${label}-${writer}`;
  for (let index = 0; index < perWriter; index++) {
    await store.append(`account-${account}`, [{
      id: randomUUID(),
      type: "CreditsCharged",
      data: { accountId: `acct_${account}`, amountMicros: 1 },
      metadata: { actor: "system:bench", correlationId: randomUUID() },
    }]);
  }
}));
const seconds = (performance.now() - started) / 1000;
const stats = store.stats();
await store.close();
reply({ seconds, ...stats });
