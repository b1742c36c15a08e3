import { availableParallelism, loadavg } from "node:os";
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

interface Rate {
  /** Records per second of wall-clock time. */
  wall: number;
  /** Records per second of this process's CPU time (user + system, GC threads included). */
  cpu: number;
}

/**
 * Median rates over ROUNDS timed rounds of about `seconds` each, after a warm-up round. The CPU
 * rate is what one core does: on a machine shared with other work the wall rate falls with the
 * load, the CPU rate much less.
 */
function measure(label: string, items: unknown[], fn: (item: unknown) => unknown, seconds: number): Rate {
  const round = (limit: number): Rate => {
    const start = now();
    const cpuStart = process.cpuUsage();
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
    const cpu = process.cpuUsage(cpuStart);
    return { wall: n / (now() - start), cpu: n / ((cpu.user + cpu.system) / 1e6) };
  };
  round(seconds);
  const rates: Rate[] = [];
  for (let r = 0; r < ROUNDS; r++) rates.push(round(seconds));
  const median = (key: keyof Rate) => rates.map((r) => r[key]).sort((x, y) => x - y)[Math.floor(ROUNDS / 2)];
  const result = { wall: median("wall"), cpu: median("cpu") };
  const fmt = (v: number) => Math.round(v).toLocaleString("en-US").padStart(11);
  console.log(`${label.padEnd(46)} ${fmt(result.cpu)} per CPU-s ${fmt(result.wall)} per wall-s`);
  return result;
}

export async function run(): Promise<void> {
  const data = generatePmsData({ seed: 7, patients: RECORDS, appointments: 0 });
  const mapping = compileBuiltin("patient");
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
      `${RECORDS} seeded records; median of ${ROUNDS} rounds; node ${process.version}; ` +
      `load average ${loadavg()[0].toFixed(1)} on ${availableParallelism()} cores`,
  );
  console.log(`${"records/s".padEnd(46)} ${"(one core)".padStart(21)} ${"(wall clock)".padStart(23)}`);
  for (const p of data.patients) {
    const result = mapping.toFhir(p);
    if (!result.value) throw new Error(`generated record does not map: ${JSON.stringify(result.errors)}`);
  }
  const toFhir = measure("mapper toFhir (PMS -> FHIR)", data.patients, (r) => mapping.toFhir(r).value, 1);
  // Built after toFhir is timed: 5,000 resources kept alive from the mapper's allocation sites make
  // V8 pretenure those sites, and every later toFhir would then allocate in the old generation.
  const resources = data.patients.map((p) => mapping.toFhir(p).value as Record<string, unknown>);
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

  const ratio = (a: Rate, b: Rate) =>
    `${(a.cpu / b.cpu).toFixed(1)}x (wall ${(a.wall / b.wall).toFixed(1)}x)`;
  console.log("");
  console.log(`toFhir / fhirpath.evaluate baseline:   ${ratio(toFhir, evaluate)}`);
  console.log(`toPms  / fhirpath.evaluate baseline:   ${ratio(toPms, evaluate)}`);
  console.log(`toPms  / fhirpath.compile reference:   ${ratio(toPms, precompiled)}`);
  console.log(
    `toFhir against the 200,000 records/s target: ${(toFhir.cpu / 200000).toFixed(2)}x per core ` +
      `(${(toFhir.wall / 200000).toFixed(2)}x wall)`,
  );
  if (sink < 0) console.log(sink);
}
