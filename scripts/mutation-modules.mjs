// The modules under mutation testing: the TypeScript Stryker mutates, the compiled specs that test
// it, and the score below which a run fails (thresholds.break). lib/hl7 and lib/store are left out
// of this round.
export const BASELINE = "reports/mutation/stryker-incremental.json";

export const MODULES = {
  webhook: {
    mutate: ["lib/webhook/**/*.ts"],
    specs: ["dist/test/lib/webhook/*.spec.js"],
    floor: 85,
  },
  legacy: {
    mutate: ["lib/legacy/pms-hmac.ts"],
    // The webhook verifier checks pms-hmac signatures too; its specs test the scheme's header rules.
    specs: ["dist/test/lib/legacy/*.spec.js", "dist/test/lib/webhook/*.spec.js"],
    floor: 85,
  },
  checkpoint: {
    mutate: ["lib/checkpoint/**/*.ts"],
    specs: ["dist/test/lib/checkpoint/*.spec.js"],
    floor: 85,
  },
  fhir: {
    mutate: ["lib/http/retry.ts", "lib/fhir/request.ts", "lib/fhir/auth.ts"],
    specs: ["dist/test/lib/fhir/*.spec.js", "dist/test/lib/http/retry.spec.js"],
    floor: 85,
  },
  mapping: {
    mutate: ["lib/mapping/datetime.ts", "lib/mapping/transforms.ts", "lib/mapping/path.ts"],
    specs: ["dist/test/lib/mapping/*.spec.js"],
    floor: 85,
  },
};
