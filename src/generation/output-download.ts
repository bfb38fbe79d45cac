import { BodyLimitExceeded, BoundedBody } from "../common/bounded-body.ts";
import { ForbiddenUpstreamAddress, guardedFetch } from "../inference/upstream/guarded-transport.ts";
import type { HostResolver } from "../security/ssrf-guard.ts";
import { WorkerOutputError } from "./worker-formats.ts";

/** Largest output file fetched from a worker's URL (RunPod caps bodies at 20 MB; S3 may hold more). */
export const MAX_OUTPUT_BYTES = 512 * 1024 * 1024;
const TIMEOUT_MS = 120_000;
/** Longest pause between bytes of a download that has begun. */
const IDLE_TIMEOUT_MS = 30_000;

export interface OutputDownloadOptions {
  /** Private and loopback addresses allowed (ALLOW_PRIVATE_UPSTREAMS). */
  allowPrivate: boolean;
  /**
   * Origins the operator configured and already trusts (the RunPod API itself, which the
   * simulator also serves files from): downloads from them may reach private addresses.
   */
  trustedOrigins?: string[];
  maxBytes?: number;
  timeoutMs?: number;
  /** Pins DNS answers (tests). */
  resolve?: HostResolver;
}

/**
 * Fetches a worker's `image_url` / `video_url` / `s3_url` output. The URL comes from a worker
 * (possibly a third-party one), so it goes through the same SSRF guard as account-supplied
 * upstreams: http(s) only, every resolved address checked and the socket pinned to it, redirects
 * refused (a public URL may not bounce the gateway to a metadata address), a size limit and an
 * idle and total timeout. A refused URL, a redirect, an oversized file or a 4xx is a bad output
 * (WorkerOutputError, the job fails unbilled); network errors, timeouts and 5xx throw plainly so
 * the caller tries again later.
 */
export async function downloadOutput(
  url: string,
  options: OutputDownloadOptions,
): Promise<Uint8Array> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new WorkerOutputError(`the worker's output URL is not a URL`);
  }
  if (parsed.protocol !== "https:" && parsed.protocol !== "http:") {
    throw new WorkerOutputError(`refusing a ${parsed.protocol} output URL (only http and https)`);
  }
  if (parsed.username || parsed.password) {
    throw new WorkerOutputError("refusing an output URL with credentials in it");
  }
  const maxBytes = options.maxBytes ?? MAX_OUTPUT_BYTES;
  const timeoutMs = options.timeoutMs ?? TIMEOUT_MS;
  const started = performance.now();
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  let response: Response;
  try {
    response = await guardedFetch(parsed.href, {
      method: "GET",
      headers: { accept: "*/*" },
      signal: controller.signal,
      allowPrivate: options.allowPrivate || (options.trustedOrigins ?? []).includes(parsed.origin),
      resolve: options.resolve,
    });
  } catch (error) {
    if (
      error instanceof ForbiddenUpstreamAddress ||
      (error as { cause?: unknown }).cause instanceof ForbiddenUpstreamAddress
    ) {
      throw new WorkerOutputError(
        "refusing the worker's output URL: its host is a private, loopback or metadata address",
      );
    }
    throw new Error(`output download failed: ${(error as Error).message}`);
  } finally {
    clearTimeout(timer);
  }
  if (response.status >= 300 && response.status < 400) {
    controller.abort();
    throw new WorkerOutputError(
      `the worker's output URL answered with a redirect (${response.status}), which is not followed`,
    );
  }
  if (response.status >= 400 && response.status < 500) {
    controller.abort();
    throw new WorkerOutputError(`the worker's output URL answered ${response.status}`);
  }
  if (!response.ok || !response.body) {
    controller.abort();
    throw new Error(`output download failed with ${response.status}`);
  }
  const body = BoundedBody.of(response, {
    maxBytes,
    idleTimeoutMs: IDLE_TIMEOUT_MS,
    deadline: started + timeoutMs,
    totalTimeoutMs: timeoutMs,
  }, () => controller.abort());
  let data: Uint8Array;
  try {
    data = await body.bytes();
  } catch (error) {
    controller.abort();
    if (error instanceof BodyLimitExceeded && error.kind === "size") {
      throw new WorkerOutputError(`the worker's output is larger than ${maxBytes} bytes`);
    }
    throw new Error(`output download failed: ${(error as Error).message}`);
  }
  if (data.byteLength === 0) {
    throw new WorkerOutputError("the worker's output URL returned no bytes");
  }
  return data;
}
