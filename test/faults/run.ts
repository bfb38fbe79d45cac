/**
 * `npm run test:faults -- --seeds 200 [--from 1] [--waves 6] [--keep]`: runs seeds one after the
 * other (schedule.ts) and prints one JSON line per seed; exits 1 naming every failed seed, whose
 * DATA_DIR is kept. Re-run one with `--from <seed> --seeds 1`.
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { runSeed } from "./schedule.ts";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    seeds: { type: "string", default: "5" },
    from: { type: "string", default: "1" },
    waves: { type: "string", default: "6" },
    keep: { type: "boolean", default: false },
  },
});
const seeds = Number(values.seeds);
const from = Number(values.from);
const waves = Number(values.waves);
if (![seeds, from, waves].every((value) => Number.isSafeInteger(value) && value >= 0)) {
  console.error("usage: npm run test:faults -- [--seeds N] [--from SEED] [--waves N] [--keep]");
  process.exit(2);
}
const failed: number[] = [];
const started = performance.now();
for (let seed = from; seed < from + seeds; seed++) {
  const result = await runSeed(seed, { waves, keep: values.keep });
  console.log(JSON.stringify(result.ok ? { ...result, dataDir: undefined } : result));
  if (!result.ok) {
    failed.push(seed);
    console.error(
      `seed ${seed} FAILED verify; re-run: npm run test:faults -- --from ${seed} --seeds 1`,
    );
  }
}
console.error(
  `${seeds - failed.length}/${seeds} seeds passed in ${
    ((performance.now() - started) / 1000).toFixed(1)
  } s` +
    (failed.length ? `; failed: ${failed.join(", ")}` : ""),
);
process.exitCode = failed.length ? 1 : 0;
