import { Buffer } from "node:buffer";
import type WebSocket from "ws";
import type { RawData } from "ws";
import type { RealtimeEndReason } from "./realtime.events.ts";

export interface RelayLimits {
  idleTimeoutMs: number;
  maxSessionMs: number;
  /** A side's unsent bytes above this pause reading from the other side. */
  bufferHighBytes: number;
}

export interface RelayOutcome {
  reason: RealtimeEndReason;
  clientCloseCode: number | null;
  upstreamCloseCode: number | null;
  framesFromClient: number;
  framesFromUpstream: number;
  bytesFromClient: number;
  bytesFromUpstream: number;
}

/** An upstream text frame worth reading (usage), handed over after it was forwarded. */
export type FrameObserver = (text: string) => void;

const WATCHED = [
  Buffer.from('"response.done"'),
  Buffer.from("input_audio_transcription.completed"),
];
/** While a side is paused, how often its peer's queue is looked at (a drain callback may not come). */
const DRAIN_POLL_MS = 25;

/**
 * Moves frames between the client's socket and the upstream's, in order and byte for byte
 * (text stays text, binary stays binary), with backpressure both ways: when one side's send
 * queue passes `bufferHighBytes`, reading from the other side pauses until it drains, so a
 * slow reader holds at most about that much in the gateway. Ends on the first close, error or
 * limit, closing the other side with the mapped code, and resolves `ended` once.
 */
export class RealtimeRelay {
  readonly ended: Promise<RelayOutcome>;
  private finish!: (outcome: RelayOutcome) => void;
  private done = false;
  private readonly counts = {
    framesFromClient: 0,
    framesFromUpstream: 0,
    bytesFromClient: 0,
    bytesFromUpstream: 0,
  };
  private idleTimer?: ReturnType<typeof setTimeout>;
  private readonly sessionTimer: ReturnType<typeof setTimeout>;
  /** Interval handles (Deno's and Node's timer typings disagree; opaque numbers here). */
  private readonly drainTimers = new Map<WebSocket, number>();

  constructor(
    private readonly client: WebSocket,
    private readonly upstream: WebSocket,
    private readonly limits: RelayLimits,
    private readonly observe: FrameObserver,
    /** Upstream frames that arrived before the client's socket was ready, in order. */
    early: Array<{ data: RawData; isBinary: boolean }> = [],
  ) {
    this.ended = new Promise((resolve) => (this.finish = resolve));
    for (const frame of early) this.fromUpstream(frame.data, frame.isBinary);
    upstream.on("message", (data, isBinary) => this.fromUpstream(data, isBinary));
    client.on("message", (data, isBinary) => this.fromClient(data, isBinary));
    client.on("close", (code) => this.clientClosed(code));
    upstream.on("close", (code) => this.upstreamClosed(code));
    client.on("error", (error) => this.failed("client", error));
    upstream.on("error", (error) => this.failed("upstream", error));
    this.touch();
    this.sessionTimer = setTimeout(
      () => this.endByPolicy("max_duration", "maximum session length reached"),
      limits.maxSessionMs,
    );
  }

  /**
   * Ends the session for a rule (credit, shutdown): `clientEvent`, when given, is sent to the
   * client first; the client gets `code` (1008 policy, 1001 going away), the upstream 1000.
   */
  cut(reason: RealtimeEndReason, code: number, message: string, clientEvent?: unknown): void {
    if (this.done) return;
    if (clientEvent !== undefined && this.client.readyState === this.client.OPEN) {
      this.client.send(JSON.stringify(clientEvent));
    }
    this.end(reason, { client: [code, message], upstream: [code === 1001 ? 1001 : 1000, reason] });
  }

  private fromClient(data: RawData, isBinary: boolean): void {
    if (this.done) return;
    this.counts.framesFromClient += 1;
    this.counts.bytesFromClient += byteLength(data);
    this.touch();
    this.forward(this.upstream, this.client, data, isBinary);
  }

  private fromUpstream(data: RawData, isBinary: boolean): void {
    if (this.done) return;
    this.counts.framesFromUpstream += 1;
    this.counts.bytesFromUpstream += byteLength(data);
    this.touch();
    this.forward(this.client, this.upstream, data, isBinary);
    if (!isBinary && Buffer.isBuffer(data) && WATCHED.some((marker) => data.includes(marker))) {
      this.observe(data.toString("utf8"));
    }
  }

  /** Sends to `target`; pauses `source` while `target` has more than the bound queued. */
  private forward(target: WebSocket, source: WebSocket, data: RawData, isBinary: boolean): void {
    if (target.readyState !== target.OPEN) return;
    target.send(data, { binary: isBinary }, () => this.maybeResume(target, source));
    if (target.bufferedAmount > this.limits.bufferHighBytes && !this.drainTimers.has(target)) {
      source.pause();
      const poll = setInterval(() => this.maybeResume(target, source), DRAIN_POLL_MS);
      this.drainTimers.set(target, poll as unknown as number);
    }
  }

  private maybeResume(target: WebSocket, source: WebSocket): void {
    const timer = this.drainTimers.get(target);
    if (!timer || target.bufferedAmount > this.limits.bufferHighBytes / 2) return;
    clearInterval(timer);
    this.drainTimers.delete(target);
    source.resume();
  }

  private touch(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(
      () => this.endByPolicy("idle_timeout", "idle timeout"),
      this.limits.idleTimeoutMs,
    );
  }

  private endByPolicy(reason: RealtimeEndReason, message: string): void {
    this.end(reason, { client: [1008, message], upstream: [1000, reason] });
  }

  /** The client's own code goes upstream; codes a peer may not send become 1000/1001. */
  private clientClosed(code: number): void {
    if (this.done) return;
    this.clientCode = code;
    this.end("client_closed", { upstream: [sendable(code, 1001), ""] });
  }

  /** A normal upstream close reaches the client as it was; anything else is an upstream failure. */
  private upstreamClosed(code: number): void {
    if (this.done) return;
    this.upstreamCode = code;
    if (code === 1000 || code === 1008) {
      this.end("upstream_closed", { client: [code, code === 1000 ? "" : "upstream policy"] });
    } else {
      this.end("upstream_failed", { client: [1011, "upstream failure"] });
    }
  }

  private failed(side: "client" | "upstream", error: Error & { code?: string }): void {
    if (this.done) return;
    // ws closes a side that sent an over-long frame with 1009 itself; the other side is told 1008.
    const tooLarge = error.code === "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH";
    if (tooLarge) {
      this.end("message_too_large", {
        [side === "client" ? "upstream" : "client"]: [
          side === "client" ? 1000 : 1008,
          "message too large",
        ],
      });
      return;
    }
    if (side === "client") this.end("client_closed", { upstream: [1001, ""] });
    else this.end("upstream_failed", { client: [1011, "upstream failure"] });
  }

  private clientCode: number | null = null;
  private upstreamCode: number | null = null;

  private end(
    reason: RealtimeEndReason,
    close: { client?: [number, string]; upstream?: [number, string] },
  ): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.idleTimer);
    clearTimeout(this.sessionTimer);
    for (const timer of this.drainTimers.values()) clearInterval(timer);
    this.drainTimers.clear();
    if (close.client) {
      closeSocket(this.client, ...close.client);
      this.clientCode ??= close.client[0];
    }
    if (close.upstream) {
      closeSocket(this.upstream, ...close.upstream);
      this.upstreamCode ??= close.upstream[0];
    }
    this.finish({
      reason,
      clientCloseCode: this.clientCode,
      upstreamCloseCode: this.upstreamCode,
      ...this.counts,
    });
  }
}

/** Closes politely, and for good a peer that does not answer the close within a second. */
function closeSocket(socket: WebSocket, code: number, reason: string): void {
  socket.resume();
  if (socket.readyState === socket.OPEN || socket.readyState === socket.CONNECTING) {
    try {
      socket.close(code, Buffer.byteLength(reason) <= 123 ? reason : reason.slice(0, 100));
    } catch {
      socket.terminate();
    }
  }
  setTimeout(() => socket.terminate(), 1_000).unref?.();
}

/** Codes a peer may put in a close frame (RFC 6455 §7.4); others become `fallback`. */
function sendable(code: number, fallback: number): number {
  if (code === 1005) return 1000;
  if ((code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014)) return code;
  return code >= 3000 && code <= 4999 ? code : fallback;
}

function byteLength(data: RawData): number {
  if (Array.isArray(data)) return data.reduce((sum, part) => sum + part.length, 0);
  return (data as Buffer | ArrayBuffer).byteLength;
}
