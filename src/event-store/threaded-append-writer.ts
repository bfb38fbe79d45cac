import type { EventEmitter } from "node:events";
import { Worker } from "node:worker_threads";
import {
  type AppendOutcome,
  type AppendRequest,
  type AppendWriterOptions,
  decodeOutcomes,
  encodeBatch,
} from "./sqlite-append-writer.ts";

type Reply = { id: number; outcomes: string } | { closed: true };

const CLOSE_TIMEOUT_MS = 2_000;

// The Worker's EventEmitter methods, which Deno's bundled types for node:worker_threads omit.
const events = (worker: Worker) => worker as unknown as EventEmitter;

/**
 * The embedded store's writer on a worker thread: SQLite's commit work (page writes, index
 * updates, WAL checkpoints) runs beside the event loop instead of on it. Batches are committed
 * in the order sent; if the thread dies, every batch in flight is reported unavailable (each may
 * or may not have committed, exactly as with a lost connection) and the next starts a new thread.
 */
export class ThreadedAppendWriter {
  private worker?: Worker;
  private nextId = 1;
  /** Batches sent and not yet answered: their size, and where their outcomes go. */
  private readonly waiting = new Map<
    number,
    { size: number; resolve(outcomes: AppendOutcome[]): void }
  >();

  constructor(private readonly options: AppendWriterOptions) {}

  /** `checkpointFirst`: copy the WAL into the file (PASSIVE) before committing the batch. */
  commit(
    batch: AppendRequest[],
    createdAt: number,
    { checkpointFirst = false } = {},
  ): Promise<AppendOutcome[]> {
    return this.send(batch.length, { batch: encodeBatch(batch), createdAt, checkpointFirst });
  }

  /**
   * Copies the WAL's committed frames into the store file on the thread (a PASSIVE checkpoint),
   * after the batches sent before it; settles when done, also if the thread failed it.
   */
  async checkpoint(): Promise<void> {
    await this.send(0, { checkpoint: true });
  }

  private send(size: number, message: object): Promise<AppendOutcome[]> {
    const worker = this.worker ??= this.start();
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(id, { size, resolve });
      worker.postMessage({ id, ...message });
    });
  }

  /** Lets the thread close its connection, then ends it (at once if it does not answer). */
  async close(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    this.worker = undefined;
    await new Promise<void>((resolve) => {
      const end = () => {
        clearTimeout(timer);
        void worker.terminate().then(() => resolve(), () => resolve());
      };
      const timer = setTimeout(end, CLOSE_TIMEOUT_MS);
      events(worker).once("exit", () => {
        clearTimeout(timer);
        resolve();
      });
      events(worker).on("message", (reply: Reply) => {
        if ("closed" in reply) end();
      });
      worker.postMessage({ close: true });
    });
  }

  private start(): Worker {
    const worker = new Worker(new URL("./sqlite-writer.worker.ts", import.meta.url), {
      workerData: this.options,
    });
    // Like a database connection, the thread keeps the process alive until the store closes.
    events(worker).on("message", (reply: Reply) => {
      if ("closed" in reply) return;
      const batch = this.waiting.get(reply.id);
      this.waiting.delete(reply.id);
      batch?.resolve(decodeOutcomes(reply.outcomes));
    });
    const fail = (reason: string) => {
      if (this.worker === worker) this.worker = undefined;
      const outcome: AppendOutcome = {
        ok: false,
        failure: { kind: "unavailable", message: `event store writer stopped: ${reason}` },
      };
      for (const batch of this.waiting.values()) {
        batch.resolve(Array.from({ length: batch.size }, () => outcome));
      }
      this.waiting.clear();
    };
    events(worker).on("error", (error: Error) => fail(error.message));
    events(worker).on("exit", (code: number) => fail(`exit code ${code}`));
    return worker;
  }
}
