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
import { repeatEvery, type Repeating } from "../common/repeat.ts";

export const KEY_USAGE_FLUSH_INTERVAL_MS = 30_000;

/**
 * last_used_at without one event per request: uses are kept in memory and flushed as one
 * `ApiKeysUsed` event per interval (and at shutdown) on this instance's `keyusage-` stream.
 */
@Injectable()
export class KeyUsageTracker implements OnModuleInit, OnModuleDestroy, OnApplicationShutdown {
  private pending = new Map<string, { accountId: string; lastUsedAt: string }>();
  private timer?: Repeating;
  private flushing?: Promise<void>;

  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  onModuleInit(): void {
    this.timer = repeatEvery(KEY_USAGE_FLUSH_INTERVAL_MS, () => void this.flush());
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

  async flush(): Promise<void> {
    await this.flushing;
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
    this.flushing = (async () => {
      try {
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
        logger.write("warn", "could not flush API key usage", { error: (error as Error).message });
      }
    })();
    await this.flushing;
  }

  async onModuleDestroy(): Promise<void> {
    this.timer?.stop();
    await this.flush();
  }

  async onApplicationShutdown(): Promise<void> {
    // Uses recorded while in-flight requests drained; the store may be closed by now.
    await this.flush().catch(() => undefined);
  }
}
