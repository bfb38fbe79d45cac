import type { EventStoreDBClient, Filter, Position } from "@eventstore/db-client";
import { esdbClientLibrary } from "./esdb-client.ts";
import type { EventFilter, RecordedEvent, SubscribeOptions } from "./event-store.port.ts";
import { ClosableSubscription } from "./closable-subscription.ts";
import { matchesFilter } from "./event-filter.ts";
import { comparePositions, isUserEvent, toRecordedEvent } from "./esdb-recorded-event.ts";
import { repeatEvery, type Repeating } from "../common/repeat.ts";

export interface SubscriptionSettings {
  initialDelayMs: number;
  maxDelayMs: number;
  stalledMs: number;
  headPosition(): Promise<bigint>;
  onClose(subscription: EsdbSubscription): void;
}

/**
 * A catch-up subscription to $all that survives dropped gRPC streams: it resubscribes from the
 * last position it has seen, with bounded exponential backoff, and skips anything at or before
 * that position, so events are never duplicated or skipped.
 */
export class EsdbSubscription extends ClosableSubscription {
  private current: ReturnType<EventStoreDBClient["subscribeToAll"]> | undefined;
  private wakeBackoff: (() => void) | undefined;
  /** Last position known to be processed by the server for us: delivered or checkpointed. */
  private progress: Position | undefined;
  private lastProgressAt = Date.now();
  private watchdog: Repeating | undefined;

  constructor(
    private readonly client: EventStoreDBClient,
    options: SubscribeOptions,
    private readonly settings: SubscriptionSettings,
  ) {
    super(options);
  }

  protected async release(): Promise<void> {
    this.watchdog?.stop();
    this.wakeBackoff?.();
    await this.current?.unsubscribe().catch(() => undefined);
    this.settings.onClose(this);
  }

  protected async *run(): AsyncGenerator<RecordedEvent> {
    const from = this.options.from ?? 0n;
    let lastDelivered: Position | undefined = from > 0n
      ? { commit: from, prepare: from }
      : undefined;
    let failures = 0;
    this.startWatchdog();
    try {
      while (!this.closed) {
        const subscription = this.client.subscribeToAll({
          fromPosition: lastDelivered ?? esdbClientLibrary().START,
          filter: this.serverFilter(),
        });
        this.current = subscription;
        try {
          for await (const resolved of subscription) {
            failures = 0;
            const position = resolved.event?.position;
            if (!position) continue;
            // After a resubscription the server may replay the boundary; never deliver twice.
            if (lastDelivered && comparePositions(position, lastDelivered) <= 0) continue;
            lastDelivered = position;
            this.markProgress(position);
            const recorded = toRecordedEvent(resolved);
            if (
              !recorded || !isUserEvent(recorded) || !matchesFilter(recorded, this.options.filter)
            ) {
              continue;
            }
            yield recorded;
            if (this.closed) return;
          }
        } catch {
          // Dropped, cancelled or failed: resubscribe below unless we are closing.
        } finally {
          await subscription.unsubscribe().catch(() => undefined);
        }
        if (this.closed) return;
        failures++;
        await this.backoff(failures);
      }
    } finally {
      await this.close();
    }
  }

  /** Server-side filtering where EventStoreDB can do it; matchesFilter() covers the rest. */
  private serverFilter(): Filter {
    const filter: EventFilter | undefined = this.options.filter;
    const checkpointReached = (_: unknown, position: Position) => this.markProgress(position);
    if (filter?.streamPrefixes && filter.streamPrefixes.length > 0) {
      return esdbClientLibrary().streamNameFilter({
        prefixes: filter.streamPrefixes,
        checkpointReached,
      });
    }
    if (filter?.eventTypes && filter.eventTypes.length > 0) {
      const exact = filter.eventTypes.map(escapeRegex).join("|");
      return esdbClientLibrary().eventTypeFilter({ regex: `^(?:${exact})$`, checkpointReached });
    }
    return esdbClientLibrary().excludeSystemEvents({ checkpointReached });
  }

  private markProgress(position: Position): void {
    if (!this.progress || comparePositions(position, this.progress) > 0) this.progress = position;
    this.lastProgressAt = Date.now();
  }

  /** Detects a silently stalled stream: $all moved on but we heard nothing for a long time. */
  private startWatchdog(): void {
    const interval = Math.max(1000, Math.floor(this.settings.stalledMs / 2));
    // Never keep the process alive just for the watchdog (repeatEvery unrefs its timer).
    this.watchdog = repeatEvery(interval, async () => {
      if (this.closed || Date.now() - this.lastProgressAt < this.settings.stalledMs) return;
      try {
        const head = await this.settings.headPosition();
        if (head > (this.progress?.commit ?? this.options.from ?? 0n)) {
          this.lastProgressAt = Date.now();
          this.current?.destroy(new Error("subscription stalled; resubscribing"));
        }
      } catch {
        // The server is unreachable: the subscription itself will fail and resubscribe.
      }
    });
  }

  private backoff(failures: number): Promise<void> {
    const delay = Math.min(
      this.settings.maxDelayMs,
      this.settings.initialDelayMs * 2 ** Math.min(failures - 1, 16),
    );
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakeBackoff = undefined;
        resolve();
      };
      const timer = setTimeout(done, delay);
      this.wakeBackoff = done;
    });
  }
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
