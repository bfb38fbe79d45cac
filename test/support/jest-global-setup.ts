import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { builtinModules, createRequire } from "node:module";
import path from "node:path";
import process from "node:process";
import { ensureConsoleBuilt } from "../../scripts/console-build.ts";

/**
 * jest's globalSetup: before any test file runs, writes an ES-module copy of @nestjs/throttler
 * that jest.config.js maps the package to.
 *
 * Why: the throttler is CommonJS and require()s @nestjs/common and @nestjs/core 12, which are
 * ESM-only. Deno's own loader does require(esm), so the real runtime is fine; jest's
 * require(esm) needs vm.SourceTextModule#hasAsyncGraph, which Deno's node:vm lacks ("Must use
 * import to load ES Module"). Each dist/*.js becomes a .mjs that imports what it requires and
 * runs the unchanged CommonJS body inside Node's own module wrapper, so tests exercise the
 * real throttler code.
 */
export default function globalSetup(
  _globalConfig: unknown,
  projectConfig: { rootDir: string },
): void {
  writeEsmShim(projectConfig.rootDir, "@nestjs/throttler", "nestjs-throttler");
  // The gateway serves the web console from console/dist; a fresh checkout may not have built it.
  ensureConsoleBuilt(projectConfig.rootDir);
}

/** Where the shim of a package lives; jest.config.js's moduleNameMapper points at its index.mjs. */
export function shimDirectory(rootDir: string, folder: string): string {
  return path.join(rootDir, "node_modules", ".cache", "modelpilot-jest", folder);
}

/**
 * Generates the shim deterministically and rewrites only files whose text changed: a new package
 * version (named in every file's header) or a new generator regenerates it, and test runs
 * started at the same time by other people see each file either whole-old or whole-new.
 */
export function writeEsmShim(rootDir: string, packageName: string, folder: string): void {
  const packageRequire = createRequire(path.join(rootDir, "package.json"));
  const manifestPath = packageRequire.resolve(`${packageName}/package.json`);
  const packageDir = path.dirname(manifestPath);
  const manifest = JSON.parse(readFileSync(manifestPath, "utf8")) as {
    version: string;
    main?: string;
  };
  const distDir = path.join(packageDir, "dist");
  if (path.resolve(packageDir, manifest.main ?? "index.js") !== path.join(distDir, "index.js")) {
    throw new Error(`${packageName}: expected "main" to be dist/index.js, got ${manifest.main}`);
  }
  const sources = listJavaScript(distDir);
  const files = new Map(sources.map((file) => [file, parseCommonJs(file, packageRequire)]));
  assertAcyclic(files, distDir);

  const outputDir = shimDirectory(rootDir, folder);
  mkdirSync(outputDir, { recursive: true });
  const written = new Set<string>();
  for (const [file, parsed] of files) {
    const relative = path.relative(distDir, file).replace(/\.js$/, ".mjs");
    const target = path.join(outputDir, relative);
    written.add(target);
    const text = renderModule({
      packageName,
      version: manifest.version,
      distRelative: path.relative(packageDir, file).split(path.sep).join("/"),
      file,
      parsed,
      // Loading the real package here (Deno does require(esm) natively) tells each file's exports.
      exportNames: Object.keys(packageRequire(file) as object).sort(),
    });
    writeIfChanged(target, text);
  }
  // Only stale shims go: a *.tmp may be another run's file halfway to its rename.
  for (const stale of listFiles(outputDir)) {
    if (stale.endsWith(".mjs") && !written.has(stale)) rmSync(stale, { force: true });
  }
}

type PackageRequire = ReturnType<typeof createRequire>;

interface ParsedCommonJs {
  body: string;
  /** Every `require("…")` in order of first appearance, with what it names. */
  requires: Array<{ spec: string; kind: "sibling" | "builtin" | "package"; file?: string }>;
}

const REQUIRE_CALL = /\brequire\((["'])([^"']+)\1\)/g;
const ANY_REQUIRE = /\brequire\s*\(/g;
const SOURCE_MAP_COMMENT = /\n?\/\/# sourceMappingURL=\S+\s*$/;
const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;
const RESERVED = new Set(["default", "await", "enum", "implements", "package", "protected"]);

function parseCommonJs(file: string, packageRequire: PackageRequire): ParsedCommonJs {
  const body = readFileSync(file, "utf8").replace(SOURCE_MAP_COMMENT, "\n");
  const calls = [...body.matchAll(REQUIRE_CALL)];
  if (calls.length !== [...body.matchAll(ANY_REQUIRE)].length) {
    throw new Error(`${file}: a require() with a computed argument cannot be shimmed statically`);
  }
  const requires: ParsedCommonJs["requires"] = [];
  for (const [, , spec] of calls) {
    if (requires.some((known) => known.spec === spec)) continue;
    if (spec.startsWith(".")) {
      requires.push({ spec, kind: "sibling", file: resolveRelative(path.dirname(file), spec) });
    } else if (spec.startsWith("node:") || builtinModules.includes(spec)) {
      requires.push({ spec, kind: "builtin" });
    } else {
      assertEsmOnly(spec, packageRequire);
      requires.push({ spec, kind: "package" });
    }
  }
  return { body, requires };
}

/** CommonJS resolution of a relative require: the file, then `.js`, then `/index.js`. */
function resolveRelative(fromDir: string, spec: string): string {
  const base = path.resolve(fromDir, spec);
  for (const candidate of [base, `${base}.js`, path.join(base, "index.js")]) {
    if (existsSync(candidate) && statSync(candidate).isFile()) return candidate;
  }
  throw new Error(`cannot resolve require("${spec}") from ${fromDir}`);
}

/**
 * A package dependency is imported as its namespace, which is what require(esm) returns. That is
 * only right for ES modules; a CommonJS dependency would need its default export instead.
 */
function assertEsmOnly(spec: string, packageRequire: PackageRequire): void {
  const name = spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0];
  const manifest = JSON.parse(readFileSync(packageRequire.resolve(`${name}/package.json`), "utf8"));
  if (manifest.type !== "module") {
    throw new Error(
      `the shim imports ${spec} as an ES module, but ${name} is not "type": "module"`,
    );
  }
}

/** ES imports are hoisted and evaluated before the body, so a require cycle would break. */
function assertAcyclic(files: Map<string, ParsedCommonJs>, distDir: string): void {
  const state = new Map<string, "visiting" | "done">();
  const visit = (file: string, trail: string[]): void => {
    if (state.get(file) === "done") return;
    if (state.get(file) === "visiting") {
      const cycle = [...trail.slice(trail.indexOf(file)), file].map((f) =>
        path.relative(distDir, f)
      );
      throw new Error(`require cycle in the shimmed package: ${cycle.join(" -> ")}`);
    }
    state.set(file, "visiting");
    for (const dependency of files.get(file)?.requires ?? []) {
      if (dependency.file) visit(dependency.file, [...trail, file]);
    }
    state.set(file, "done");
  };
  for (const file of files.keys()) visit(file, []);
}

function renderModule(input: {
  packageName: string;
  version: string;
  distRelative: string;
  file: string;
  parsed: ParsedCommonJs;
  exportNames: string[];
}): string {
  const { parsed, file } = input;
  const imports: string[] = [];
  const table: string[] = [];
  parsed.requires.forEach((dependency, index) => {
    const local = `__dep_${index}`;
    if (dependency.kind === "sibling") {
      let sibling = path.relative(path.dirname(file), dependency.file!).replace(/\.js$/, ".mjs");
      if (!sibling.startsWith(".")) sibling = `./${sibling}`;
      imports.push(`import { __cjsExports as ${local} } from ${JSON.stringify(sibling)};`);
    } else if (dependency.kind === "builtin") {
      // require() of a built-in returns its CommonJS object: the default export.
      imports.push(`import ${local} from ${JSON.stringify(dependency.spec)};`);
    } else {
      imports.push(`import * as ${local} from ${JSON.stringify(dependency.spec)};`);
    }
    table.push(`  ${JSON.stringify(dependency.spec)}: ${local},`);
  });
  const named = input.exportNames.filter((name) => IDENTIFIER.test(name) && !RESERVED.has(name));
  return [
    `// Generated by test/support/jest-global-setup.ts from ${input.packageName}@${input.version}` +
    ` ${input.distRelative}; do not edit.`,
    ...imports,
    "",
    "const __required = {",
    ...table,
    "};",
    "function require(id) {",
    "  if (!Object.prototype.hasOwnProperty.call(__required, id)) {",
    `    throw new Error("${input.distRelative} was shimmed without require(" + JSON.stringify(id) + ")");`,
    "  }",
    "  return __required[id];",
    "}",
    "const module = { exports: {} };",
    "// Node's CommonJS wrapper: `this` is module.exports and the body's top level is function scope.",
    "(function (exports, require, module, __filename, __dirname) {",
    parsed.body.trimEnd(),
    `}).call(module.exports, module.exports, require, module, ${JSON.stringify(file)}, ${
      JSON.stringify(path.dirname(file))
    });`,
    "",
    "export const __cjsExports = module.exports;",
    "export default __cjsExports;",
    ...named.map((name) => `export const ${name} = __cjsExports.${name};`),
    "",
  ].join("\n");
}

function writeIfChanged(target: string, text: string): void {
  if (existsSync(target) && readFileSync(target, "utf8") === text) return;
  mkdirSync(path.dirname(target), { recursive: true });
  const temporary = `${target}.${process.pid}.tmp`;
  writeFileSync(temporary, text);
  renameSync(temporary, target);
}

function listJavaScript(directory: string): string[] {
  return listFiles(directory).filter((file) => file.endsWith(".js"));
}

function listFiles(directory: string): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(directory, { withFileTypes: true })) {
    const full = path.join(directory, entry.name);
    if (entry.isDirectory()) files.push(...listFiles(full));
    else files.push(full);
  }
  return files.sort();
}
