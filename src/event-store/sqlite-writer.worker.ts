/**
 * Worker-thread entry of the embedded store's writer (see SqliteAppendWriter): opens its own
 * connection to the store file and answers each `{ id, batch, createdAt }` with
 * `{ id, outcomes }` once the batch is committed. The store sends one batch at a time.
 */
import { parentPort, workerData } from "node:worker_threads";
import {
  type AppendRequest,
  type AppendWriterOptions,
  openStoreConnection,
  SqliteAppendWriter,
} from "./sqlite-append-writer.ts";

const db = openStoreConnection(workerData as AppendWriterOptions);
const writer = new SqliteAppendWriter(db);

parentPort!.on(
  "message",
  (message: { id: number; batch: AppendRequest[]; createdAt: number } | { close: true }) => {
    if ("close" in message) {
      db.close();
      // The store terminates this thread on this reply.
      parentPort!.postMessage({ closed: true });
      return;
    }
    const outcomes = writer.commit(message.batch, message.createdAt);
    parentPort!.postMessage({ id: message.id, outcomes });
  },
);
