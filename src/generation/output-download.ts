import { WorkerOutputError } from "./worker-formats.ts";

/** Largest output file fetched from a worker's URL (RunPod caps bodies at 20 MB; S3 may hold more). */
export const MAX_OUTPUT_BYTES = 512 * 1024 * 1024;
const TIMEOUT_MS = 120_000;

/**
 * Fetches a worker's `image_url` / `video_url` / `s3_url` output. Only http(s): RunPod's
 * public endpoints serve https URLs (the simulator serves loopback http). A 4xx is a bad
 * output (WorkerOutputError, the job fails unbilled); network errors and 5xx throw plainly so
 * the caller tries again later.
 */
export async function downloadOutput(url: string): Promise<Uint8Array> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new WorkerOutputError(`the worker's output URL is not a URL`);
  }
  if (parsed.protocol !== "https:" && parsed.protocol !== "http:") {
    throw new WorkerOutputError(`refusing a ${parsed.protocol} output URL (only http and https)`);
  }
  const response = await fetch(parsed, {
    signal: AbortSignal.timeout(TIMEOUT_MS),
    redirect: "follow",
  });
  if (response.status >= 400 && response.status < 500) {
    await response.body?.cancel();
    throw new WorkerOutputError(`the worker's output URL answered ${response.status}`);
  }
  if (!response.ok || !response.body) {
    await response.body?.cancel();
    throw new Error(`output download failed with ${response.status}`);
  }
  const declared = Number(response.headers.get("content-length") ?? 0);
  if (declared > MAX_OUTPUT_BYTES) {
    await response.body.cancel();
    throw new WorkerOutputError(`the worker's output is larger than ${MAX_OUTPUT_BYTES} bytes`);
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of response.body) {
    total += chunk.byteLength;
    if (total > MAX_OUTPUT_BYTES) {
      throw new WorkerOutputError(`the worker's output is larger than ${MAX_OUTPUT_BYTES} bytes`);
    }
    chunks.push(chunk);
  }
  if (total === 0) throw new WorkerOutputError("the worker's output URL returned no bytes");
  const data = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    data.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return data;
}
