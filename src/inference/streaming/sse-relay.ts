import { Inject, Injectable } from "@nestjs/common";
import type { ServerResponse } from "node:http";
import { PassThrough } from "node:stream";
import type { OpenAiErrorBody } from "../../common/api-error.ts";
import { BodyLimitExceeded } from "../../common/bounded-body.ts";
import { watchesOwnStalls } from "../../common/connection-limits.ts";
import { logger } from "../../common/json-logger.ts";
import { type CallSpec, fingerprint } from "../endpoints/call-spec.ts";
import type { InferenceContext } from "../inference.service.ts";
import type { InferenceUsage } from "../inference.events.ts";
import type { Route } from "../model-router.ts";
import { type OpenedUpstream, UpstreamClient } from "../upstream/upstream-client.ts";
import { upstreamInvalidResponse } from "../upstream/upstream-errors.ts";
import { roundMs } from "../usage.ts";
import { ChatStreamNormaliser } from "./chat-stream.normaliser.ts";
import { SseFrameTooLarge, SseParser } from "./sse-parser.ts";

const KEEP_ALIVE_MS = 15_000;

/** How a relayed stream ended: what InferenceCompleted/InferenceFailed records of it. */
export interface StreamResult {
  usage: InferenceUsage;
  ttft: number | null;
  finishReason: string | null;
  error?: { message: string; code: string | null };
  clientAborted: boolean;
  /** The client stopped draining for STREAM_STALL_TIMEOUT_MS and the gateway ended the stream. */
  clientStalled: boolean;
  sawToken: boolean;
  /**
   * A fault of the gateway's own that ended the relay: the caller settles and records the
   * stream as it stood, then rethrows it.
   */
  fault?: unknown;
}

/** Relays an upstream SSE stream chunk by chunk: parse, normalise, write and flush each frame. */
@Injectable()
export class SseRelay {
  private readonly maxFrameBytes: number;
  private readonly stallTimeoutMs: number;

  constructor(@Inject(UpstreamClient) upstream: UpstreamClient) {
    this.maxFrameBytes = upstream.maxFrameBytes;
    this.stallTimeoutMs = upstream.streamStallTimeoutMs;
  }

  /**
   * Sends the SSE headers before the upstream is open (a pod being woken): until `relay` takes
   * the stream over, the client gets only comment heartbeats, which OpenAI clients ignore.
   */
  begin(context: InferenceContext): BegunStream {
    const body = new PassThrough();
    this.sendHeaders(context, body);
    return { body };
  }

  /** A comment on a begun stream (a heartbeat while a pod wakes). */
  comment(begun: BegunStream, text: string): void {
    if (!begun.body.writableEnded && !begun.body.writableNeedDrain) {
      begun.body.write(`: ${text}\n\n`);
    }
  }

  /** Ends a begun stream that never reached an upstream: an error frame (and [DONE]). */
  fail(begun: BegunStream, spec: CallSpec, error: OpenAiErrorBody): void {
    if (begun.body.writableEnded) return;
    begun.body.end(spec.streamFormat!().render({ kind: "error", error }));
  }

  /** Resolves once the stream has ended for the client, never rejects. */
  async relay(
    context: InferenceContext,
    spec: CallSpec,
    route: Route,
    opened: OpenedUpstream,
    clientGone: AbortSignal,
    started: number,
    begun?: BegunStream,
  ): Promise<StreamResult> {
    const { reply, request } = context;
    const raw = reply.raw;
    const format = spec.streamFormat!();
    const normaliser = new ChatStreamNormaliser({
      object: spec.streamObject!,
      clientModel: spec.model,
      systemFingerprint: fingerprint(route),
      includeUsage: spec.includeUsage,
      estimatePromptTokens: spec.estimatePromptTokens,
      serialisedChunks: format.writesChunkJson,
    });
    const body = begun?.body ?? new PassThrough();
    if (!begun) this.sendHeaders(context, body);
    let lastWrite = performance.now();
    // A client that does not drain for STREAM_STALL_TIMEOUT_MS loses its stream: backpressure
    // alone would hold the upstream connection (and a shared endpoint's slot) for ever.
    const stallTimeoutMs = this.stallTimeoutMs;
    watchesOwnStalls(raw);
    let stalled = false;
    const onStall = () => {
      if (stalled || raw.destroyed) return;
      stalled = true;
      logger.write("warn", "stream client stalled; stream ended", {
        requestId: request.id,
        stallTimeoutMs,
      });
      opened.abort();
      body.destroy();
      raw.destroy();
    };
    const write = (text: string): Promise<void> | undefined => {
      if (!text || raw.destroyed || body.writableEnded) return;
      lastWrite = performance.now();
      if (body.write(text)) return;
      return waitForDrain(body, raw, stallTimeoutMs, onStall);
    };
    // SSE comments keep idle proxies from closing a stream waiting for a slow first token.
    const keepAlive = setInterval(() => {
      if (performance.now() - lastWrite >= KEEP_ALIVE_MS && !body.writableNeedDrain) {
        write(": keep-alive\n\n");
      }
    }, KEEP_ALIVE_MS);
    let ttft: number | null = null;
    let clientAborted = false;
    let fault: unknown;
    try {
      const start = write(format.start());
      if (start) await start;
      // The body is read through the upstream limits; the parser enforces the frame limit.
      const reader = opened.body;
      const parser = new SseParser(this.maxFrameBytes);
      let endWritten = false;
      /**
       * The client's text for the frames of one upstream read, and for the stream's end when
       * they end it: one write for all of them, not one per frame.
       */
      const framesOf = (payloads: string[], upstreamEnded: boolean): string => {
        let text = "";
        for (const payload of payloads) {
          for (const output of normaliser.accept(payload)) text += format.render(output);
          if (ttft === null && normaliser.sawToken) ttft = roundMs(performance.now() - started);
          if (normaliser.done) break;
        }
        if (upstreamEnded) {
          for (const output of normaliser.finish(false)) text += format.render(output);
        }
        if (normaliser.done && !normaliser.error && !clientGone.aborted) {
          text += format.end(normaliser);
          endWritten = true;
        }
        return text;
      };
      try {
        // A stalled client's stream ends here: nothing more is read or judged (not "truncated").
        while (!normaliser.done && !stalled) {
          // The parser is done with each chunk before the next read, so the buffer is reused.
          const value = await reader.readTransient();
          const pending = write(
            value ? framesOf(parser.push(value), false) : framesOf(parser.end(), true),
          );
          if (pending) await pending;
          if (!value) break;
        }
      } catch (error) {
        if (clientGone.aborted || stalled) clientAborted = true;
        else if (error instanceof BodyLimitExceeded || error instanceof SseFrameTooLarge) {
          // Too much or too slow: the stream has started, so an error frame (and [DONE]).
          logger.write("warn", "upstream stream refused", {
            requestId: request.id,
            error: error.message,
          });
          for (
            const output of normaliser.fail(
              upstreamInvalidResponse(error.message).message,
              "upstream_invalid_response",
            )
          ) await write(format.render(output));
        } else {
          logger.write("warn", "upstream stream failed", {
            requestId: request.id,
            error: (error as Error).message,
          });
          for (
            const output of normaliser.fail(
              "The connection to the upstream model server failed mid-stream.",
              "upstream_stream_failed",
            )
          ) await write(format.render(output));
        }
      } finally {
        // Stop reading (and free the upstream connection) whatever ended the loop.
        opened.abort();
      }
      if (clientGone.aborted || stalled) clientAborted = true;
      if (!clientAborted && !normaliser.error && !endWritten) await write(format.end(normaliser));
    } catch (error) {
      fault = error;
    } finally {
      // The cast bridges Deno's and @types/node's timer types (both checked together with tests).
      clearInterval(keepAlive as Parameters<typeof clearInterval>[0]);
      opened.abort();
      // A client that is gone (or was cut off for not reading) gets no graceful end: what is
      // still queued for it would keep its connection open.
      if (clientAborted) body.destroy();
      else if (!body.writableEnded) body.end();
    }
    const usage = normaliser.finalUsage();
    return {
      usage: {
        promptTokens: usage.prompt_tokens,
        completionTokens: usage.completion_tokens,
        totalTokens: usage.total_tokens,
        usageEstimated: usage.estimated === true,
      },
      ttft,
      finishReason: normaliser.finishReason,
      error: normaliser.error,
      clientAborted,
      clientStalled: stalled,
      sawToken: normaliser.sawToken,
      fault,
    };
  }
  private sendHeaders(context: InferenceContext, body: PassThrough): void {
    const { reply, request } = context;
    // A PassThrough body (not a hijacked reply): Fastify keeps owning the connection and its
    // keep-alive, and every frame written here is piped to the socket at once.
    reply.code(200).headers({
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache",
      "x-accel-buffering": "no",
      "x-request-id": String(request.id),
      // Deno's node:http keeps a socket that carried a streamed response marked busy if the
      // client reuses it, which blocks graceful shutdown; one connection per stream avoids it.
      connection: "close",
    }).send(body);
    reply.raw.socket?.setNoDelay?.(true);
  }
}

/** A stream whose headers were sent before its upstream was open (see SseRelay.begin). */
export interface BegunStream {
  body: PassThrough;
}

/** Resolves on drain or close; after `stallTimeoutMs` without either, calls `onStall` first. */
function waitForDrain(
  body: PassThrough,
  raw: ServerResponse,
  stallTimeoutMs: number,
  onStall: () => void,
): Promise<void> {
  return new Promise((resolve) => {
    const finish = () => {
      clearTimeout(timer as Parameters<typeof clearTimeout>[0]);
      body.off("drain", finish);
      raw.off("close", finish);
      resolve();
    };
    const timer = setTimeout(() => {
      onStall();
      finish();
    }, stallTimeoutMs);
    body.on("drain", finish);
    raw.on("close", finish);
  });
}
