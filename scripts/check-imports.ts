// Module boundaries that deno lint cannot see: `deno run --allow-read=. scripts/check-imports.ts`
// (npm run check:imports, run by .ci/run). Prints every offending import and exits 1.
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
/** The foundation: each of these src/ folders may import only itself and the folders listed. */
const LAYERS: Record<string, string[]> = { common: [], "event-store": ["common"] };
const RELATIVE_IMPORT = /(?:\bfrom|\bimport)\s*\(?\s*["'](\.{1,2}\/[^"']+)["']/g;
/**
 * A value import of class-validator's index loads every decorator, validator.js and
 * libphonenumber-js at start (~100 ms, ~3 MB): src/ takes them from src/common/validators.ts.
 */
const CLASS_VALIDATOR_INDEX =
  /^\s*(?:import|export)\s+(?!type\b)[^;]*?\bfrom\s*["']class-validator["']/gm;

function* typescriptFiles(directory: string): Generator<string> {
  for (const entry of Deno.readDirSync(directory)) {
    const path = join(directory, entry.name);
    if (entry.isDirectory) yield* typescriptFiles(path);
    else if (entry.name.endsWith(".ts")) yield path;
  }
}

/** The folder under src/ ("billing"), "" for src/app.ts and its siblings, else undefined. */
function featureOf(path: string): string | undefined {
  const parts = relative(join(ROOT, "src"), path).split("/");
  if (parts[0] === "..") return undefined;
  return parts.length > 1 ? parts[0] : "";
}

const offenders: string[] = [];
for (const top of ["src", "test", "bench"]) {
  for (const file of typescriptFiles(join(ROOT, top))) {
    const from = featureOf(file);
    const text = Deno.readTextFileSync(file);
    if (from !== undefined && CLASS_VALIDATOR_INDEX.test(text)) {
      offenders.push(
        `${
          relative(ROOT, file)
        } imports class-validator's index: import from src/common/validators.ts`,
      );
    }
    CLASS_VALIDATOR_INDEX.lastIndex = 0;
    for (const [, specifier] of text.matchAll(RELATIVE_IMPORT)) {
      const target = resolve(dirname(file), specifier);
      const to = featureOf(target);
      const where = `${relative(ROOT, file)} imports ${relative(ROOT, target)}`;
      if (from && from in LAYERS && to !== undefined && to !== from && !LAYERS[from].includes(to)) {
        const allowed = [from, ...LAYERS[from]].map((folder) => `src/${folder}`).join(", ");
        offenders.push(`${where}: src/${from} may import only from ${allowed}`);
      }
      // A controller is wired by its own module; what others need belongs in a non-HTTP file.
      const ownModule = from === to && file.endsWith(".module.ts");
      if (target.endsWith(".controller.ts") && !ownModule) {
        offenders.push(`${where}: only its own module file may import a controller`);
      }
    }
  }
}

for (const offender of offenders) console.error(offender);
if (offenders.length > 0) Deno.exit(1);
console.log("imports: layering and module boundaries hold");
