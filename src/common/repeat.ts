/** A repeating background task that never keeps the process alive; `stop()` ends it. */
export interface Repeating {
  stop(): void;
}

export function repeatEvery(intervalMs: number, task: () => void): Repeating {
  // Deno's and Node's timer typings disagree on the handle's type; it stays opaque here.
  const handle: unknown = setInterval(task, intervalMs);
  (handle as { unref?: () => void }).unref?.();
  return { stop: () => clearInterval(handle as number) };
}
