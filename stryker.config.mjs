// Stryker configuration for a set of modules: MUTATION_MODULES names them, comma separated (all
// of scripts/mutation-modules.mjs when unset). `npm run mutation` (scripts/mutation.js) sets it and
// prints the score per module. Stryker mutates the TypeScript in lib/, compiles its sandbox with tsc
// (buildCommand) and runs the modules' compiled specs; perTest coverage runs each mutant against
// only the tests that reach it, so one run over several modules costs one build and one dry run.
import process from "node:process";
import { BASELINE, MODULES } from "./scripts/mutation-modules.mjs";

const names = process.env.MUTATION_MODULES ? process.env.MUTATION_MODULES.split(",") : Object.keys(MODULES);
for (const name of names) {
  if (!MODULES[name])
    throw new Error(`unknown mutation module "${name}"; one of: ${Object.keys(MODULES).join(", ")}`);
}
const mods = names.map((name) => MODULES[name]);
const reportDir = `reports/mutation/${names.join("+")}`;

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  packageManager: "npm",
  testRunner: "mocha",
  buildCommand: "tsc -p tsconfig.mutation.json",
  mutate: mods.flatMap((m) => m.mutate),
  mochaOptions: {
    config: ".mocharc.mutation.json",
    spec: [...new Set(mods.flatMap((m) => m.specs))],
  },
  coverageAnalysis: "perTest",
  // A static mutant (module-level code) needs a fresh test process and every test for each run,
  // which made it most of the run time; they are left out (docs/testing.md).
  ignoreStatic: true,
  // MUTATION_CONCURRENCY: test processes at once (1 unless set; a quiet 2-core machine takes 2).
  concurrency: Number(process.env.MUTATION_CONCURRENCY ?? 1),
  timeoutMS: 10000,
  ignorePatterns: [
    ".stryker-tmp",
    // dist/ is rebuilt in the sandbox, but incremental mode reads the compiled specs from the
    // project to tell which tests changed.
    "/dist/*",
    "!/dist/test",
    "/dist/test/*",
    "!/dist/test/lib",
    "build",
    "reports",
    "test-output",
    ".node-red-data",
    "examples/pipelines",
  ],
  reporters: ["json", "progress"],
  jsonReporter: { fileName: `${reportDir}/mutation.json` },
  // The committed baseline of --incremental: scripts/mutation.js keeps the other modules' entries
  // in it when a run covers only some of them.
  incrementalFile: BASELINE,
  tempDirName: `.stryker-tmp/${names.join("+")}`,
  cleanTempDir: "always",
};
