// Stryker configuration for one module at a time: MUTATION_MODULE names it (see MODULES below);
// `npm run mutation` (scripts/mutation.js) runs each in turn and prints the scores.
// Stryker mutates the TypeScript in lib/, compiles the sandbox with tsc (buildCommand) and runs the
// module's compiled specs; perTest coverage runs each mutant against the tests that reach it only.
import process from "node:process";
import { MODULES } from "./scripts/mutation-modules.mjs";

const name = process.env.MUTATION_MODULE;
const mod = MODULES[name];
if (!mod) {
  throw new Error(`MUTATION_MODULE must be one of: ${Object.keys(MODULES).join(", ")} (got "${name ?? ""}")`);
}
const reportDir = `reports/mutation/${name}`;

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  packageManager: "npm",
  testRunner: "mocha",
  buildCommand: "tsc -p tsconfig.mutation.json",
  mutate: mod.mutate,
  mochaOptions: {
    config: ".mocharc.mutation.json",
    spec: mod.specs,
  },
  coverageAnalysis: "perTest",
  concurrency: 1,
  timeoutMS: 10000,
  ignorePatterns: ["dist", "build", "reports", "test-output", ".node-red-data", "examples/pipelines"],
  reporters: ["json", "progress"],
  jsonReporter: { fileName: `${reportDir}/mutation.json` },
  incrementalFile: `${reportDir}/stryker-incremental.json`,
  thresholds: { high: 90, low: 85, break: mod.floor },
  tempDirName: `.stryker-tmp/${name}`,
  cleanTempDir: "always",
};
