import {
  Inject,
  Injectable,
  type OnApplicationShutdown,
  type OnModuleDestroy,
  type OnModuleInit,
} from "@nestjs/common";
import { CLOCK, type Clock } from "../common/clock.ts";
import { logger } from "../common/json-logger.ts";
import { newEventId } from "../common/ids.ts";
import { APP_CONFIG, type AppConfig } from "../config/config.ts";
import { EVENT_STORE, type EventStore } from "../event-store/event-store.port.ts";
import { type ApiKeysUsedData, keyUsageStream } from "./auth.events.ts";
import { PeriodicSweep } from "../common/repeat.ts";

export const KEY_USAGE_FLUSH_INTERVAL_MS = 30_000;

/**
 * last_used_at without one event per request: uses are kept in memory and flushed as one
 * `ApiKeysUsed` event per interval (and at shutdown) on this instance's `keyusage-` stream.
 */
@Injectable()
export class KeyUsageTracker implements OnModuleInit, OnModuleDestroy, OnApplicationShutdown {
  private pending = new Map<string, { accountId: string; lastUsedAt: string }>();
  private readonly flushes = new PeriodicSweep(
    KEY_USAGE_FLUSH_INTERVAL_MS,
    () => this.flushPending(),
    (error) => logFlushFailure(error),
  );

  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  onModuleInit(): void {
    this.flushes.start();
  }

  record(keyId: string, accountId: string): void {
    this.pending.set(keyId, { accountId, lastUsedAt: this.clock.now().toISOString() });
  }

  pendingLastUsed(keyId: string): string | undefined {
    return this.pending.get(keyId)?.lastUsedAt;
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  /** Writes every use recorded so far, once. */
  async flush(): Promise<void> {
    const recorded = this.pending;
    await this.flushes.run();
    // Unswapped: the call joined a pass that took only the uses before `recorded`; write those.
    if (this.pending === recorded) await this.flushes.run();
  }

  private async flushPending(): Promise<void> {
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    const data: ApiKeysUsedData = {
      keys: [...batch].map(([keyId, use]) => ({
        keyId,
        accountId: use.accountId,
        lastUsedAt: use.lastUsedAt,
      })),
    };
    try {
      // A direct append: this instance's own append-only log, with nothing to decide.
      await this.store.append(keyUsageStream(this.config.instanceId), [{
        id: newEventId(),
        type: "ApiKeysUsed",
        data,
        metadata: { actor: "system:auth" },
      }], { expectedRevision: "any" });
    } catch (error) {
      // Keep the uses for the next flush unless newer ones arrived meanwhile.
      for (const [keyId, use] of batch) {
        if (!this.pending.has(keyId)) this.pending.set(keyId, use);
      }
      logFlushFailure(error);
    }
  }

  async onModuleDestroy(): Promise<void> {
    await this.flushes.stop();
    await this.flush();
  }

  async onApplicationShutdown(): Promise<void> {
    // Uses recorded while in-flight requests drained; the store may be closed by now.
    await this.flush().catch(() => undefined);
  }
}

function logFlushFailure(error: unknown): void {
  logger.write("warn", "could not flush API key usage", { error: (error as Error).message });
}
