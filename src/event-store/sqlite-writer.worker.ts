/**
 * Worker-thread entry of the embedded store's writer (see SqliteAppendWriter): opens its own
 * connection to the store file and answers each `{ id, batch, createdAt }` (the batch encoded by
 * encodeBatch) with `{ id, outcomes }` once the batch is committed, in the order received.
 */
import { parentPort, workerData } from "node:worker_threads";
import {
  type AppendWriterOptions,
  decodeBatch,
  openStoreConnection,
  SqliteAppendWriter,
} from "./sqlite-append-writer.ts";

const options = workerData as AppendWriterOptions;
const db = openStoreConnection(options);
const writer = new SqliteAppendWriter(db, options.busyTimeoutMs);

type Message =
  | { id: number; batch: string; createdAt: number }
  | { close: true };

parentPort!.on("message", (message: Message) => {
  if ("close" in message) {
    db.close();
    // The store terminates this thread on this reply.
    parentPort!.postMessage({ closed: true });
    return;
  }
  const outcomes = writer.commit(decodeBatch(message.batch), message.createdAt);
  parentPort!.postMessage({ id: message.id, outcomes });
});
