import { existsSync } from "node:fs";
import type { Command } from "commander";
import { allProjections } from "../../audit/all-projections.ts";
import { ReadModelDatabase } from "../../projections/read-model.database.ts";
import type { CliContext } from "../context.ts";
import { CliError, EXIT, UsageError } from "../exit-codes.ts";
import { ProjectionFeeder } from "../projection-feeder.ts";
import { forEachPage } from "../read-all.ts";

export function register(program: Command, context: CliContext): void {
  program.command("rebuild")
    .description(
      "rebuild read models from zero into this instance's read-model file (service stopped)",
    )
    .argument("[projection...]", "projection names (default: every projection)")
    .action(async (names: string[]) => {
      const known = allProjections();
      const chosen = names.length === 0 ? known : names.map((name) => {
        const projection = known.find((candidate) => candidate.name === name);
        if (!projection) {
          throw new UsageError(
            `unknown projection ${name} (one of ${known.map((p) => p.name).join(", ")})`,
          );
        }
        return projection;
      });
      const path = context.readModelsPath();
      const store = context.store();
      const existed = existsSync(path);
      const readModels = new ReadModelDatabase(path);
      try {
        refuseWhileInUse(readModels, path, existed);
        const head = await store.headPosition();
        const started = performance.now();
        const progress = context.progress("rebuild", Number(head));
        let events = 0;
        try {
          const feeder = new ProjectionFeeder(readModels.db, chosen);
          await forEachPage(store, { to: head }, (page) => {
            feeder.apply(page);
            events += page.length;
            progress.increment(page.length);
          });
          feeder.finish(head);
        } finally {
          progress.stop();
        }
        const seconds = (performance.now() - started) / 1000;
        const result = {
          read_models: path,
          projections: chosen.map((projection) => projection.name),
          events,
          checkpoint: String(head),
          seconds: Math.round(seconds * 1000) / 1000,
          events_per_second: Math.round(events / Math.max(seconds, 1e-6)),
        };
        if (context.globals().json) context.printJson(result);
        else {
          context.print(
            `rebuilt ${result.projections.length} projection(s) from ${events} events in ${result.seconds} s (${result.events_per_second} events/s): ${
              result.projections.join(", ")
            }`,
          );
          context.print(`read models: ${path}, checkpoint ${head}`);
        }
      } finally {
        readModels.close();
      }
    });
}

/**
 * The service keeps its read-model file open (WAL) while it runs, and SQLite then refuses to
 * leave WAL mode: switching the journal mode is how we learn, without a lock file, that someone
 * else has the database open. A rebuild under a running service would race its runner.
 */
function refuseWhileInUse(readModels: ReadModelDatabase, path: string, existed: boolean): void {
  if (!existed) return;
  const db = readModels.db;
  db.exec("PRAGMA busy_timeout = 0");
  try {
    const mode = db.prepare("PRAGMA journal_mode = DELETE").get() as { journal_mode: string };
    if (mode.journal_mode.toLowerCase() !== "delete") throw new Error(mode.journal_mode);
  } catch {
    throw new CliError(
      `the read-model database ${path} is in use (is the service running?); stop it and run rebuild again`,
      EXIT.UNAVAILABLE,
    );
  } finally {
    db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA busy_timeout = 5000");
  }
}
