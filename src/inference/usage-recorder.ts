import { type BeforeApplicationShutdown, Inject, Injectable } from "@nestjs/common";
import { deterministicEventId } from "../common/ids.ts";
import { logger } from "../common/json-logger.ts";
import { EVENT_STORE, type EventStore } from "../event-store/event-store.port.ts";
import { metrics } from "../operations/metrics.ts";
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

/**
 * Appends InferenceCompleted/InferenceFailed off the response path: the client never waits for
 * the write. Each append is tracked, retried with backoff (the event id is deterministic, so a
 * retry that already landed appends nothing), and awaited before the event store closes.
 */
@Injectable()
export class UsageRecorder implements BeforeApplicationShutdown {
  private readonly pending = new Set<Promise<void>>();

  constructor(@Inject(EVENT_STORE) private readonly store: EventStore) {}

  record<Type extends keyof InferenceEventMap>(type: Type, data: InferenceEventMap[Type]): void {
    recorded.inc({
      outcome: type === "InferenceCompleted" ? "completed" : "failed",
      route: data.routeKind,
    });
    const work = this.append(type, data).finally(() => this.pending.delete(work));
    this.pending.add(work);
  }

  /** Resolves when every event recorded so far is stored (or given up on and logged). */
  async flush(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  get inFlight(): number {
    return this.pending.size;
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
        await new Promise((resolve) => setTimeout(resolve, RETRY_DELAYS_MS[attempt]));
      }
    }
  }
}
