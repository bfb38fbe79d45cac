/**
 * Worker-thread entry of the embedded store's writer (see SqliteAppendWriter): opens its own
 * connection to the store file and answers, in the order received, each `{ id, batch, createdAt,
 * checkpointFirst }` (the batch encoded by encodeBatch) with `{ id, outcomes }` (encoded by
 * encodeOutcomes) once the batch is committed, and each `{ id, checkpoint }` with an empty
 * `{ id, outcomes }` once the WAL is copied into the file.
 */
import { parentPort, workerData } from "node:worker_threads";
import {
  type AppendWriterOptions,
  decodeBatch,
  encodeOutcomes,
  openStoreConnection,
  SqliteAppendWriter,
} from "./sqlite-append-writer.ts";

const options = workerData as AppendWriterOptions;
const db = openStoreConnection(options);
const writer = new SqliteAppendWriter(db, options.busyTimeoutMs);

type Message =
  | { id: number; batch: string; createdAt: number; checkpointFirst: boolean }
  | { id: number; checkpoint: true }
  | { close: true };

parentPort!.on("message", (message: Message) => {
  if ("close" in message) {
    db.close();
    // The store terminates this thread on this reply.
    parentPort!.postMessage({ closed: true });
    return;
  }
  if ("checkpoint" in message) {
    checkpoint();
    parentPort!.postMessage({ id: message.id, outcomes: "[]" });
    return;
  }
  if (message.checkpointFirst) checkpoint();
  const outcomes = writer.commit(decodeBatch(message.batch), message.createdAt);
  parentPort!.postMessage({ id: message.id, outcomes: encodeOutcomes(outcomes) });
});

/**
 * PASSIVE: copies what is committed so far while other connections go on committing. A failure
 * is no fault of any append: the next checkpoint copies the same frames.
 */
function checkpoint(): void {
  try {
    db.exec("PRAGMA wal_checkpoint(PASSIVE)");
  } catch {
    // Left to the next checkpoint, see above.
  }
}
