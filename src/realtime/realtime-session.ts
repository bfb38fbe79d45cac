import { logger } from "../common/json-logger.ts";
import type { Clock } from "../common/clock.ts";
import type { EventMetadata } from "../event-store/event-store.port.ts";
import type { RealtimeBilling } from "./realtime-billing.ts";
import type { RealtimeEndReason, RealtimeSessionStarted } from "./realtime.events.ts";
import type { RealtimeRelay, RelayOutcome } from "./realtime-relay.ts";
import type { RealtimeSessionHandler } from "./realtime-session.handler.ts";
import { boundedUsage, responseCostMicros, responseKey } from "./realtime-usage.ts";

/** Transcription usages kept until the next response records them (a bound on memory). */
const MAX_PENDING_TRANSCRIPTIONS = 64;

/**
 * One live session's bookkeeping: reads the usage frames the relay hands over, records one
 * RealtimeResponseCompleted per distinct response id, bills it, cuts the session when credit
 * runs out, and records the end. Work is chained per session, so its events are appended in
 * the order the frames arrived, and never delays the relay itself.
 */
export class LiveRealtimeSession {
  private work: Promise<void> = Promise.resolve();
  private readonly seen = new Set<string>();
  private transcriptions: Record<string, unknown>[] = [];
  private relay?: RealtimeRelay;
  /** Per-second models: whole seconds already billed. */
  private billedSeconds = 0;

  constructor(
    readonly session: RealtimeSessionStarted,
    private readonly handler: RealtimeSessionHandler,
    private readonly billing: RealtimeBilling | undefined,
    private readonly clock: Clock,
    private readonly metadata: EventMetadata,
  ) {}

  /** Attaches the relay and resolves once the session is ended and recorded. */
  async run(relay: RealtimeRelay): Promise<void> {
    this.relay = relay;
    const outcome = await relay.ended;
    await this.finish(outcome);
  }

  /** The relay's hook for an upstream text frame that mentions usage. */
  observe(text: string): void {
    let event: {
      type?: unknown;
      response?: { id?: unknown; status?: unknown; usage?: unknown };
      usage?: unknown;
    };
    try {
      event = JSON.parse(text);
    } catch {
      return;
    }
    if (event.type === "conversation.item.input_audio_transcription.completed") {
      const usage = boundedUsage(event.usage);
      if (usage && this.transcriptions.length < MAX_PENDING_TRANSCRIPTIONS) {
        this.transcriptions.push(usage);
      }
      return;
    }
    if (event.type !== "response.done") return;
    const responseId = responseKey(event.response?.id);
    // A replayed response.done (same id) is forwarded but adds nothing.
    if (!responseId || this.seen.has(responseId)) return;
    this.seen.add(responseId);
    const usage = boundedUsage(event.response?.usage);
    const status = typeof event.response?.status === "string"
      ? event.response.status.slice(0, 32)
      : null;
    const transcriptionUsage = this.transcriptions;
    this.transcriptions = [];
    const at = this.clock.now();
    const chargeMicros = this.chargeFor(usage, transcriptionUsage, at);
    this.enqueue(async () => {
      await this.handler.handle(this.session.sessionId, {
        type: "CompleteResponse",
        responseId,
        status,
        usage,
        transcriptionUsage,
        chargeMicros,
        at: at.toISOString(),
      }, this.metadata);
      if (!this.billing) return;
      const { cut } = await this.billing.afterResponse(responseId, chargeMicros);
      if (cut) {
        this.relay?.cut(
          "insufficient_credits",
          1008,
          "insufficient credits",
          insufficientCreditsEvent(),
        );
      }
    });
  }

  private chargeFor(
    usage: Record<string, unknown> | null,
    transcriptions: Record<string, unknown>[],
    at: Date,
  ): number {
    const pricing = this.session.pricing;
    if (!pricing) return 0;
    if (pricing.kind === "tokens") return responseCostMicros(pricing, usage, transcriptions);
    // Per second: each response pays for the whole seconds of session since the last one.
    const seconds = Math.ceil((at.getTime() - Date.parse(this.session.startedAt)) / 1000);
    const due = Math.max(0, seconds - this.billedSeconds);
    this.billedSeconds += due;
    return due * pricing.perSecondMicros;
  }

  private enqueue(task: () => Promise<void>): void {
    this.work = this.work.then(task).catch((error) =>
      logger.write("warn", "realtime session bookkeeping failed", {
        sessionId: this.session.sessionId,
        error: (error as Error).message,
      })
    );
  }

  private async finish(outcome: RelayOutcome): Promise<void> {
    await this.work;
    await this.end(outcome.reason, outcome);
  }

  /** Records the end (also for sessions whose client never completed the handshake). */
  async end(reason: RealtimeEndReason, outcome?: Partial<RelayOutcome>): Promise<void> {
    try {
      await this.billing?.close(`realtime_${reason}`);
    } catch (error) {
      // The hold expires on its own; nothing was charged by it.
      logger.write("warn", "realtime hold release failed", {
        sessionId: this.session.sessionId,
        error: (error as Error).message,
      });
    }
    await this.handler.handle(this.session.sessionId, {
      type: "EndSession",
      reason,
      clientCloseCode: outcome?.clientCloseCode ?? null,
      upstreamCloseCode: outcome?.upstreamCloseCode ?? null,
      framesFromClient: outcome?.framesFromClient ?? 0,
      framesFromUpstream: outcome?.framesFromUpstream ?? 0,
      bytesFromClient: outcome?.bytesFromClient ?? 0,
      bytesFromUpstream: outcome?.bytesFromUpstream ?? 0,
      at: this.clock.now().toISOString(),
    }, this.metadata);
  }

  /** Shutdown: both sides told the gateway is going away. */
  shutdown(): void {
    this.relay?.cut("shutdown", 1001, "server shutting down");
  }
}

/** The OpenAI-shaped error event a client gets before a credit cut. */
export function insufficientCreditsEvent() {
  return {
    type: "error",
    event_id: `event_${Date.now().toString(36)}`,
    error: {
      type: "insufficient_credits",
      code: "insufficient_credits",
      message: "Your credit balance cannot cover another response; the session is closed.",
      param: null,
    },
  };
}
