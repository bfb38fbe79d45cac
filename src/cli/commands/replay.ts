import type { Command } from "commander";
import { REPLAY_NAME, replayTo } from "../../audit/replay.ts";
import { parsePositionOrTime } from "../arguments.ts";
import type { CliContext } from "../context.ts";
import { UsageError } from "../exit-codes.ts";

export function register(program: Command, context: CliContext): void {
  program.command("replay")
    .description(
      "build every read model as it stood at a position or ISO time (recording time) into " +
        "DATA_DIR/replays/<name>.sqlite; the admin API reads it under /admin/replays",
    )
    .requiredOption("--to <position|iso>", "the last position, or an instant")
    .option("--name <name>", "the replay's name (default pos-<N> or at-<time>)")
    .action(async (options: { to: string; name?: string }) => {
      const bound = parsePositionOrTime("--to", options.to);
      if (options.name !== undefined && !REPLAY_NAME.test(options.name)) {
        throw new UsageError(`--name must be letters, digits, - and _: ${options.name}`);
      }
      const store = context.store();
      const head = await store.headPosition();
      const total = "position" in bound && bound.position < head ? bound.position : head;
      const progress = context.progress("replay", Number(total));
      const started = performance.now();
      let result;
      try {
        result = await replayTo(store, context.config().dataDir, bound, {
          name: options.name,
          onProgress: (applied) => progress.increment(applied),
        });
      } finally {
        progress.stop();
      }
      const seconds = (performance.now() - started) / 1000;
      if (context.globals().json) {
        context.printJson({
          name: result.name,
          path: result.path,
          last_position: result.lastPosition,
          last_recorded_at: result.lastRecordedAt,
          events: result.events,
          projections: result.projections,
          events_per_second: Math.round(result.events / Math.max(seconds, 0.001)),
        });
        return;
      }
      context.note(
        `replayed ${result.events} events (to position ${result.lastPosition}) into ` +
          `${result.projections.length} projections in ${seconds.toFixed(2)} s`,
      );
      context.print(result.path);
    });
}
