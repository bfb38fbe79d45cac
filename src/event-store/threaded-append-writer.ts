import type { EventEmitter } from "node:events";
import { Worker } from "node:worker_threads";
import type { AppendOutcome, AppendRequest, AppendWriterOptions } from "./sqlite-append-writer.ts";

type Reply = { id: number; outcomes: AppendOutcome[] } | { closed: true };

// The Worker's EventEmitter methods, which Deno's bundled types for node:worker_threads omit.
const events = (worker: Worker) => worker as unknown as EventEmitter;

/**
 * The embedded store's writer on a worker thread: SQLite's commit work (page writes, index
 * updates, WAL checkpoints) runs beside the event loop instead of on it. Batches go one at a
 * time; if the thread dies, the batch in flight is reported unavailable (it may or may not
 * have committed, exactly as with a lost connection) and the next batch starts a new thread.
 */
export class ThreadedAppendWriter {
  private worker?: Worker;
  private nextId = 1;
  private readonly waiting = new Map<number, (outcomes: AppendOutcome[]) => void>();
  private batchSize = 0;

  constructor(private readonly options: AppendWriterOptions) {}

  commit(batch: AppendRequest[], createdAt: number): Promise<AppendOutcome[]> {
    const worker = this.worker ??= this.start();
    const id = this.nextId++;
    this.batchSize = batch.length;
    worker.ref();
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      worker.postMessage({ id, batch, createdAt });
    });
  }

  async close(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    this.worker = undefined;
    await new Promise<void>((resolve) => {
      const done = () => resolve();
      events(worker).once("exit", done);
      events(worker).once("message", (reply: Reply) => {
        if ("closed" in reply) void worker.terminate().then(done, done);
      });
      worker.postMessage({ close: true });
    });
  }

  private start(): Worker {
    const worker = new Worker(new URL("./sqlite-writer.worker.ts", import.meta.url), {
      workerData: this.options,
    });
    // A commit in flight keeps the process alive (ref in commit); an idle writer must not.
    worker.unref();
    events(worker).on("message", (reply: Reply) => {
      if ("closed" in reply) return;
      const resolve = this.waiting.get(reply.id);
      this.waiting.delete(reply.id);
      if (this.waiting.size === 0) worker.unref();
      resolve?.(reply.outcomes);
    });
    const fail = (reason: string) => {
      if (this.worker === worker) this.worker = undefined;
      const outcome: AppendOutcome = {
        ok: false,
        failure: { kind: "unavailable", message: `event store writer stopped: ${reason}` },
      };
      for (const resolve of this.waiting.values()) {
        resolve(Array.from({ length: this.batchSize }, () => outcome));
      }
      this.waiting.clear();
    };
    events(worker).on("error", (error: Error) => fail(error.message));
    events(worker).on("exit", (code: number) => fail(`exit code ${code}`));
    return worker;
  }
}
