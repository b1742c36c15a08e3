#!/usr/bin/env node
// `npm run mutation [-- <module>...] [--incremental] [--ci] [--survivors]`: one Stryker run over
// the named modules of scripts/mutation-modules.mjs (all of them by default), then one line per
// module from the JSON report: mutants, killed, survived, timeout, no coverage, score.
// --incremental re-tests only the mutants whose code or tests changed since the committed baseline;
// --ci is --incremental over the modules the baseline covers; --survivors lists each surviving
// mutant with its place. Exits non-zero when Stryker fails or a module scores below its floor.
"use strict";
const { spawnSync } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");

const root = path.resolve(__dirname, "..");

// Whether a module mutates a file of the report (its patterns are exact paths or "<dir>/**/*.ts").
function owns(mod, file) {
  return mod.mutate.some((pattern) =>
    pattern.endsWith("/**/*.ts")
      ? file.startsWith(pattern.slice(0, -"**/*.ts".length)) && file.endsWith(".ts")
      : file === pattern,
  );
}

// Stryker writes the baseline of the files it mutated only: put back the entries of the files this
// run left out (other modules), and the test files only they used.
function keepOthers(baselineFile, before, inScope) {
  const after = JSON.parse(fs.readFileSync(baselineFile, "utf8"));
  for (const [file, entry] of Object.entries(before.files ?? {})) {
    if (!inScope(file) && !(file in after.files)) after.files[file] = entry;
  }
  after.testFiles = { ...before.testFiles, ...after.testFiles };
  fs.writeFileSync(baselineFile, JSON.stringify(after));
}

function summarise(report, mod) {
  const counts = { total: 0, Killed: 0, Survived: 0, Timeout: 0, NoCoverage: 0, other: 0 };
  const survivors = [];
  for (const [file, { mutants }] of Object.entries(report.files)) {
    if (!owns(mod, file)) continue;
    for (const m of mutants) {
      if (m.status === "CompileError" || m.status === "Ignored") continue;
      counts.total++;
      if (m.status in counts) counts[m.status]++;
      else counts.other++;
      if (m.status === "Survived" || m.status === "NoCoverage") {
        const at = `${file}:${m.location.start.line}:${m.location.start.column}`;
        survivors.push(`  ${m.status} ${at} ${m.mutatorName}: ${JSON.stringify(m.replacement ?? "")}`);
      }
    }
  }
  // Stryker's mutation score: killed and timed out over all valid mutants (static ones are ignored).
  const detected = counts.Killed + counts.Timeout;
  const score = counts.total === 0 ? 100 : (100 * detected) / counts.total;
  return { counts, score, survivors };
}

async function main() {
  const { BASELINE, MODULES } = await import("./mutation-modules.mjs");
  const args = process.argv.slice(2);
  const flags = new Set(args.filter((a) => a.startsWith("--")));
  const asked = args.filter((a) => !a.startsWith("--"));
  for (const name of asked) {
    if (!MODULES[name]) {
      console.error(`mutation: unknown module "${name}"; one of: ${Object.keys(MODULES).join(", ")}`);
      process.exit(2);
    }
  }
  let names = asked.length > 0 ? [...new Set(asked)] : Object.keys(MODULES);
  const baselineFile = path.join(root, BASELINE);
  const before = fs.existsSync(baselineFile) ? JSON.parse(fs.readFileSync(baselineFile, "utf8")) : undefined;
  if (flags.has("--ci")) {
    // CI: incremental, over the modules the committed baseline covers (a module without one would
    // be a full run, past CI's time budget).
    flags.add("--incremental");
    const covered = Object.keys(before?.files ?? {});
    names = names.filter((name) => covered.some((file) => owns(MODULES[name], file)));
    if (names.length === 0) {
      console.error(`mutation: --ci needs a baseline (${BASELINE}) covering at least one module`);
      process.exit(1);
    }
  }
  const reportFile = path.join(root, "reports", "mutation", names.join("+"), "mutation.json");
  const stryker = path.join(root, "node_modules", "@stryker-mutator", "core", "bin", "stryker.js");
  const strykerArgs = [stryker, "run", "stryker.config.mjs"];
  if (flags.has("--incremental")) strykerArgs.push("--incremental");
  const started = Date.now();
  // Stryker's incremental mode tells changed tests by the content of the compiled spec files in
  // dist/ (mocha reports no test locations, so a changed spec file re-tests every mutant its tests
  // cover): compile them from the current sources first, with the options of the build.
  const tsc = spawnSync(
    process.execPath,
    [require.resolve("typescript/bin/tsc"), "-p", "tsconfig.mutation.json"],
    {
      cwd: root,
      stdio: "inherit",
    },
  );
  if (tsc.status !== 0) {
    console.error("mutation: tsc -p tsconfig.mutation.json failed");
    process.exit(1);
  }
  fs.rmSync(reportFile, { force: true });
  const run = spawnSync(process.execPath, strykerArgs, {
    cwd: root,
    stdio: "inherit",
    env: { ...process.env, MUTATION_MODULES: names.join(",") },
  });
  const seconds = Math.round((Date.now() - started) / 1000);
  if (!fs.existsSync(reportFile)) {
    console.error(`mutation: Stryker wrote no report (exit ${run.status}) after ${seconds} s`);
    process.exit(1);
  }
  const report = JSON.parse(fs.readFileSync(reportFile, "utf8"));
  if (before && fs.existsSync(baselineFile)) {
    const scope = names.map((name) => MODULES[name]);
    keepOthers(baselineFile, before, (file) => scope.some((mod) => owns(mod, file)));
  }
  let failed = run.status !== 0;
  console.log(`\nmutation scores (${seconds} s${flags.has("--incremental") ? ", incremental" : ""}):`);
  for (const name of names) {
    const { counts, score, survivors } = summarise(report, MODULES[name]);
    const floor = MODULES[name].floor;
    const below = score < floor;
    if (below) failed = true;
    console.log(
      `${name.padEnd(11)} mutants ${String(counts.total).padStart(4)}  killed ${String(counts.Killed).padStart(4)}  ` +
        `survived ${String(counts.Survived).padStart(3)}  timeout ${String(counts.Timeout).padStart(3)}  ` +
        `no-coverage ${String(counts.NoCoverage).padStart(3)}  score ${score.toFixed(2)}% (floor ${floor}%)` +
        (below ? "  BELOW FLOOR" : ""),
    );
    if (flags.has("--survivors")) for (const line of survivors) console.log(line);
  }
  if (failed) process.exitCode = 1;
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
