import * as fhirpath from "fhirpath";
import * as r4 from "fhirpath/fhir-context/r4";
import { builtinIdentifierSystems, builtinMappings, compileBuiltin } from "../lib/mapping";
import { generatePmsData } from "../sandbox/pms/data";

/**
 * Patient records per second through the built-in `patient` set, to FHIR and back, against
 * the same reads done with fhirpath.js in the same run: `fhirpath.evaluate` of each rule's
 * FHIR path on each resource (the baseline the issue names), and, for scale, the same paths
 * precompiled with `fhirpath.compile`. The baselines only read; the mapper also transforms,
 * validates and writes, so the ratios understate its lead.
 */

const RECORDS = 5000;
const ROUNDS = 5;

function now(): number {
  return Number(process.hrtime.bigint()) / 1e9;
}

let sink = 0;

/** Median records/s over ROUNDS timed rounds of about `seconds` each, after a warm-up round. */
function measure(label: string, items: unknown[], fn: (item: unknown) => unknown, seconds: number): number {
  const round = (limit: number): number => {
    const start = now();
    let n = 0;
    let i = 0;
    for (;;) {
      for (let k = 0; k < 64; k++) {
        if (fn(items[i]) !== undefined) sink++;
        i = i + 1 === items.length ? 0 : i + 1;
        n++;
      }
      if (now() - start >= limit) break;
    }
    return n / (now() - start);
  };
  round(seconds);
  const rates: number[] = [];
  for (let r = 0; r < ROUNDS; r++) rates.push(round(seconds));
  rates.sort((x, y) => x - y);
  const median = rates[Math.floor(rates.length / 2)];
  const fmt = (v: number) => Math.round(v).toLocaleString("en-US");
  console.log(
    `${label.padEnd(46)} ${fmt(median).padStart(11)} records/s  (rounds ${fmt(rates[0])}..${fmt(rates[rates.length - 1])})`,
  );
  return median;
}

export async function run(): Promise<void> {
  const data = generatePmsData({ seed: 7, patients: RECORDS, appointments: 0 });
  const mapping = compileBuiltin("patient");
  const resources = data.patients.map((p) => {
    const result = mapping.toFhir(p);
    if (!result.value) throw new Error(`generated record does not map: ${JSON.stringify(result.errors)}`);
    return result.value;
  });

  const env = { identifierSystem: builtinIdentifierSystems.patient };
  const model = r4 as unknown as fhirpath.Model;
  const paths = builtinMappings.patient
    .filter((r) => r.pms !== undefined && r.fhir !== undefined && (r.direction ?? "both") !== "to-fhir")
    .map((r) => r.fhir as string);
  const compiled = paths.map(
    (p) => fhirpath.compile(p, model) as (resource: unknown, vars: unknown) => unknown[],
  );

  console.log(
    `patient set: ${builtinMappings.patient.length} rules, ${paths.length} FHIR reads per record; ` +
      `${RECORDS} seeded records; median of ${ROUNDS} rounds; node ${process.version}`,
  );
  const toFhir = measure("mapper toFhir (PMS -> FHIR)", data.patients, (r) => mapping.toFhir(r).value, 1);
  const toPms = measure("mapper toPms (FHIR -> PMS)", resources, (r) => mapping.toPms(r).value, 1);
  const evaluate = measure(
    "baseline fhirpath.evaluate, each path per record",
    resources,
    (r) => {
      let last: unknown;
      for (const p of paths) last = (fhirpath.evaluate(r, p, env, model) as unknown[])[0];
      return last ?? null;
    },
    1,
  );
  const precompiled = measure(
    "reference fhirpath.compile'd paths per record",
    resources,
    (r) => {
      let last: unknown;
      for (const fn of compiled) last = fn(r, env)[0];
      return last ?? null;
    },
    1,
  );

  const ratio = (a: number, b: number) => `${(a / b).toFixed(1)}x`;
  console.log("");
  console.log(`toFhir / fhirpath.evaluate baseline:   ${ratio(toFhir, evaluate)}`);
  console.log(`toPms  / fhirpath.evaluate baseline:   ${ratio(toPms, evaluate)}`);
  console.log(`toPms  / fhirpath.compile reference:   ${ratio(toPms, precompiled)}`);
  console.log(`toFhir against the 200,000 records/s target: ${ratio(toFhir, 200000)}`);
  if (sink < 0) console.log(sink);
}
