import { existsSync } from "node:fs";
import { DatabaseSync } from "node:sqlite";
import type { Command } from "commander";
import { listCheckpoints } from "../../projections/projection-checkpoints.ts";
import type { CliContext } from "../context.ts";
import { CliError, EXIT } from "../exit-codes.ts";

export function register(program: Command, context: CliContext): void {
  program.command("projections")
    .description("checkpoints of this instance's read models, one JSON line each")
    .action(() => {
      const path = context.readModelsPath();
      if (!existsSync(path)) {
        throw new CliError(`no read-model database at ${path}`, EXIT.UNAVAILABLE);
      }
      const db = new DatabaseSync(path, { readOnly: true });
      try {
        for (const row of listCheckpoints(db)) context.printJson(row);
      } finally {
        db.close();
      }
    });
}
