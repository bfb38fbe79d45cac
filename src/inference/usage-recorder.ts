import { type BeforeApplicationShutdown, Inject, Injectable } from "@nestjs/common";
import { deterministicEventId } from "../common/ids.ts";
import { logger } from "../common/json-logger.ts";
import { sleep } from "../common/sleep.ts";
import { EVENT_STORE, type EventStore } from "../event-store/event-store.port.ts";
import { metrics } from "../common/metrics.ts";
import { type InferenceEventMap, inferenceStream } from "./inference.events.ts";

const recorded = metrics.counter(
  "inference_requests_total",
  "OpenAI-compatible requests recorded, by outcome",
);
const lost = metrics.counter(
  "inference_events_lost_total",
  "Inference events that could not be appended after retries",
);

const RETRY_DELAYS_MS = [50, 200, 1_000, 5_000];
/** Events are held this long, then appended together (one store transaction, one wake-up). */
export const USAGE_BATCH_DELAY_MS = 25;
/** …or as soon as this many are held. */
const USAGE_BATCH_MAX = 256;

type Recorded = {
  [Type in keyof InferenceEventMap]: { type: Type; data: InferenceEventMap[Type] };
}[keyof InferenceEventMap];

/**
 * Appends InferenceCompleted/InferenceFailed off the response path: the client never waits for
 * the write. Events are held for up to USAGE_BATCH_DELAY_MS and appended together, so the
 * store commits them in one transaction and its subscribers wake once per batch, not once per
 * request, and the work lands while requests wait on their upstreams. Each append is tracked,
 * retried with backoff (the event id is deterministic, so a retry that already landed appends
 * nothing), and awaited before the event store closes.
 */
@Injectable()
export class UsageRecorder implements BeforeApplicationShutdown {
  private readonly pending = new Set<Promise<void>>();
  private held: Recorded[] = [];
  private releaseTimer?: ReturnType<typeof setTimeout>;

  constructor(@Inject(EVENT_STORE) private readonly store: EventStore) {}

  record<Type extends keyof InferenceEventMap>(type: Type, data: InferenceEventMap[Type]): void {
    recorded.inc({
      outcome: type === "InferenceCompleted" ? "completed" : "failed",
      route: data.routeKind,
    });
    this.held.push({ type, data } as Recorded);
    if (this.held.length >= USAGE_BATCH_MAX) this.release();
    else this.releaseTimer ??= setTimeout(() => this.release(), USAGE_BATCH_DELAY_MS);
  }

  /** Resolves when every event recorded so far is stored (or given up on and logged). */
  async flush(): Promise<void> {
    this.release();
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  get inFlight(): number {
    return this.pending.size + this.held.length;
  }

  /** Starts the appends of every held event in one turn, so the store commits them together. */
  private release(): void {
    // The cast bridges Deno's and @types/node's timer types (both checked together with tests).
    clearTimeout(this.releaseTimer as Parameters<typeof clearTimeout>[0]);
    this.releaseTimer = undefined;
    const batch = this.held;
    this.held = [];
    for (const { type, data } of batch) {
      const work = this.append(type, data).finally(() => this.pending.delete(work));
      this.pending.add(work);
    }
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.flush();
  }

  private async append<Type extends keyof InferenceEventMap>(
    type: Type,
    data: InferenceEventMap[Type],
  ) {
    const event = {
      id: deterministicEventId("inference", data.inferenceId),
      type,
      data,
      metadata: {
        accountId: data.accountId,
        requestId: data.requestId,
        actor: data.keyId
          ? `account:${data.accountId}/key:${data.keyId}`
          : `account:${data.accountId}`,
      },
    };
    for (let attempt = 0;; attempt++) {
      try {
        // One event on a new stream of its own: nothing to decide, so no handler and no read.
        await this.store.append(inferenceStream(data.inferenceId), [event], {
          expectedRevision: "any",
        });
        return;
      } catch (error) {
        if (attempt >= RETRY_DELAYS_MS.length) {
          lost.inc();
          // Logged with every field so the usage can be replayed by hand; never dropped silently.
          logger.write("error", "inference event could not be stored", {
            type,
            error: (error as Error).message,
            event: data,
          });
          return;
        }
        await sleep(RETRY_DELAYS_MS[attempt]);
      }
    }
  }
}
