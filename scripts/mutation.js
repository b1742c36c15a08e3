#!/usr/bin/env node
// `npm run mutation [-- <module>...] [--incremental] [--survivors]`: runs Stryker over each module of
// scripts/mutation-modules.mjs in turn (all of them by default), then prints one line per module
// from its JSON report (reports/mutation/<module>/mutation.json): mutants, killed, survived,
// timeout, no coverage, score. --survivors also lists each surviving mutant with its place.
// Exits non-zero when a module's Stryker run fails or its score is below its floor.
"use strict";
const { spawnSync } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");

const root = path.resolve(__dirname, "..");

function summarise(report) {
  const counts = { total: 0, Killed: 0, Survived: 0, Timeout: 0, NoCoverage: 0, other: 0 };
  const survivors = [];
  for (const [file, { mutants }] of Object.entries(report.files)) {
    for (const m of mutants) {
      if (m.status === "CompileError" || m.status === "Ignored") continue;
      counts.total++;
      if (m.status in counts) counts[m.status]++;
      else counts.other++;
      if (m.status === "Survived" || m.status === "NoCoverage") {
        survivors.push(
          `  ${m.status} ${file}:${m.location.start.line}:${m.location.start.column} ${m.mutatorName}: ${JSON.stringify(m.replacement ?? "")}`,
        );
      }
    }
  }
  // Stryker's mutation score: killed and timed out over all valid mutants.
  const detected = counts.Killed + counts.Timeout;
  const score = counts.total === 0 ? 100 : (100 * detected) / counts.total;
  return { counts, score, survivors };
}

async function main() {
  const { MODULES } = await import("./mutation-modules.mjs");
  const args = process.argv.slice(2);
  const flags = new Set(args.filter((a) => a.startsWith("--")));
  const asked = args.filter((a) => !a.startsWith("--"));
  for (const name of asked) {
    if (!MODULES[name]) {
      console.error(`mutation: unknown module "${name}"; one of: ${Object.keys(MODULES).join(", ")}`);
      process.exit(2);
    }
  }
  const names = asked.length > 0 ? asked : Object.keys(MODULES);
  const stryker = path.join(root, "node_modules", "@stryker-mutator", "core", "bin", "stryker.js");
  const lines = [];
  let failed = false;
  for (const name of names) {
    const started = Date.now();
    const strykerArgs = [stryker, "run", "stryker.config.mjs"];
    if (flags.has("--incremental")) strykerArgs.push("--incremental");
    const run = spawnSync(process.execPath, strykerArgs, {
      cwd: root,
      stdio: "inherit",
      env: { ...process.env, MUTATION_MODULE: name },
    });
    const seconds = Math.round((Date.now() - started) / 1000);
    const reportFile = path.join(root, "reports", "mutation", name, "mutation.json");
    if (!fs.existsSync(reportFile)) {
      lines.push(`${name}: no report (stryker exit ${run.status})`);
      failed = true;
      continue;
    }
    const { counts, score, survivors } = summarise(JSON.parse(fs.readFileSync(reportFile, "utf8")));
    const floor = MODULES[name].floor;
    const below = score < floor;
    if (run.status !== 0 || below) failed = true;
    lines.push(
      `${name.padEnd(11)} mutants ${String(counts.total).padStart(4)}  killed ${String(counts.Killed).padStart(4)}  ` +
        `survived ${String(counts.Survived).padStart(3)}  timeout ${String(counts.Timeout).padStart(3)}  ` +
        `no-coverage ${String(counts.NoCoverage).padStart(3)}  score ${score.toFixed(2)}% (floor ${floor}%)` +
        `${below ? "  BELOW FLOOR" : ""}  ${seconds} s`,
    );
    if (flags.has("--survivors") && survivors.length > 0) lines.push(...survivors);
  }
  console.log("\nmutation scores:");
  for (const line of lines) console.log(line);
  if (failed) process.exitCode = 1;
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
