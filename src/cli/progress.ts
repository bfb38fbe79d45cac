// @ts-types="./cli-progress.d.ts"
import cliProgress from "cli-progress";
import process from "node:process";

/** A long job's progress: count what was done; `stop()` once at the end (also on error). */
export interface Progress {
  /** `done` items more were processed (events, rows, …). */
  increment(done: number): void;
  /** The total changed (e.g. the store grew while reading). */
  setTotal(total: number): void;
  stop(): void;
}

const SILENT: Progress = { increment() {}, setTotal() {}, stop() {} };

/**
 * A progress bar on stderr with events/s and time left. It is drawn only when stderr is a
 * terminal and the output is not --json, so pipes, CI logs and machine readers never see it.
 */
export function startProgress(
  label: string,
  total: number,
  options: { json?: boolean; unit?: string; stream?: NodeJS.WriteStream } = {},
): Progress {
  const stream = options.stream ?? process.stderr;
  if (options.json || !stream.isTTY || total <= 0) return SILENT;
  const unit = options.unit ?? "events";
  const bar = new cliProgress.SingleBar({
    stream,
    format: `${label} [{bar}] {percentage}% | {value}/{total} ${unit} | {rate} ${unit}/s | ` +
      "ETA {eta_formatted}",
    etaBuffer: 50,
    fps: 5,
    hideCursor: true,
    clearOnComplete: false,
  }, cliProgress.Presets.shades_classic);
  const started = performance.now();
  let value = 0;
  bar.start(total, 0, { rate: 0 });
  return {
    increment(done) {
      value += done;
      const seconds = (performance.now() - started) / 1000;
      bar.update(value, { rate: seconds > 0 ? Math.round(value / seconds) : 0 });
    },
    setTotal(newTotal) {
      bar.setTotal(newTotal);
    },
    stop() {
      bar.stop();
    },
  };
}
