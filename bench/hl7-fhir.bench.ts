import { readFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { parseHl7 } from "../lib/hl7";
import { hl7v2 } from "../lib/hl7/hl7v2";
import { createConverter, messageFromPayload, V2ToFhir } from "../lib/hl7/fhir";

/**
 * ADT^A01 -> FHIR transaction Bundle conversions per second on one core (issue target: at least
 * 5,000/s), for a small (~650 B) and a 5 KB message: from text (parse + convert, as hl7-fhir does
 * with HL7 text) and from an already parsed message (as after hl7-parse or mllp-in), against a
 * bare `hl7v2` parse of the same text as the baseline.
 *
 * Each timed call gets a different text (MSH-10 varies), so that lib/hl7's small parse cache
 * (which lets mllp-in and hl7-fhir share one parse) never answers for the benchmark.
 */

const FIXTURES = join(__dirname, "..", "..", "test", "fixtures", "hl7-fhir");
const OPTIONS = {
  direction: "to-fhir" as const,
  systems: { "GHH-MRN": "urn:oid:2.16.840.1.113883.19.1000" },
  timezone: "Europe/Berlin",
};
const VARIANTS = 512;
const ROUNDS = 5;
const ROUND_MS = 600;

function variants(text: string): string[] {
  const cr = text.replace(/\r?\n/g, "\r");
  return Array.from({ length: VARIANTS }, (_, i) => cr.replace(/\|P\|2\.5\.1/, `${i}|P|2.5.1`));
}

export interface Rate {
  /** calls per wall-clock second */
  wall: number;
  /** calls per second of this process's CPU time: what one core gives, whatever else runs */
  cpu: number;
}

/** Calls per second of `one` over about ROUND_MS. */
export function rate(one: (i: number) => unknown): Rate {
  let n = 0;
  let sink = 0;
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  let now = start;
  while (now - start < ROUND_MS) {
    for (let k = 0; k < 64; k++) {
      const r = one(n++);
      if (r) sink++;
    }
    now = performance.now();
  }
  const cpu = process.cpuUsage(cpu0);
  if (sink < 0) console.log(sink);
  return { wall: n / ((now - start) / 1000), cpu: n / ((cpu.user + cpu.system) / 1e6) };
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

export interface Case {
  label: string;
  one: (i: number) => unknown;
  rates: Rate[];
}

/** Rounds interleave the cases, so that load from elsewhere on the machine hits them alike. */
export function measure(cases: Case[]): void {
  for (const c of cases) for (let i = 0; i < 2000; i++) c.one(i);
  for (let r = 0; r < ROUNDS; r++) for (const c of cases) c.rates.push(rate(c.one));
}

export async function run(): Promise<void> {
  const { HL7Message } = hl7v2();
  const converter = createConverter(OPTIONS);
  const direct = new V2ToFhir(OPTIONS);
  for (const [name, file] of [
    ["small ADT^A01", "adt-a01-v2.5.1.hl7"],
    ["5 KB ADT^A01", "adt-a01-5kb-v2.5.1.hl7"],
  ] as const) {
    const texts = variants(readFileSync(join(FIXTURES, file), "utf8"));
    const parsed = parseHl7(texts[0]);
    const view = messageFromPayload(parsed);
    const bundle = direct.convert(view).bundle;
    console.log(
      `\n${name}: ${Buffer.byteLength(texts[0])} bytes, ${parsed.segments.length} segments -> ` +
        `${bundle.entry!.length} entries, ${JSON.stringify(bundle).length} bytes of Bundle JSON`,
    );
    const baseline: Case = {
      label: "hl7v2 parse (baseline)",
      one: (i) => HL7Message.parse(texts[i % VARIANTS]),
      rates: [],
    };
    const fromText: Case = {
      label: "text -> Bundle (parse + convert)",
      one: (i) => converter.toFhir(texts[i % VARIANTS]),
      rates: [],
    };
    const fromParsed: Case = {
      label: "parsed -> Bundle (convert only)",
      one: () => direct.convert(view),
      rates: [],
    };
    const parseOnly: Case = {
      label: "lib/hl7 parseHl7",
      one: (i) => parseHl7(texts[i % VARIANTS]),
      rates: [],
    };
    const cases = [baseline, parseOnly, fromText, fromParsed];
    measure(cases);
    const base = median(baseline.rates.map((r) => r.cpu));
    for (const c of cases) {
      const cpu = median(c.rates.map((r) => r.cpu));
      const wall = median(c.rates.map((r) => r.wall));
      console.log(
        `  ${c.label.padEnd(34)} ${cpu.toFixed(0).padStart(8)} /s per core (${(1e6 / cpu).toFixed(1)} us)` +
          `  ${wall.toFixed(0).padStart(7)} /s wall  x${(cpu / base).toFixed(2)} vs hl7v2 parse`,
      );
    }
    const fromTextCpu = median(fromText.rates.map((r) => r.cpu));
    console.log(
      `  target >= 5,000 conversions/s from text on one core: ${fromTextCpu >= 5000 ? "met" : "NOT met"}` +
        ` (median of ${ROUNDS} rounds; load average ${loadavg()[0].toFixed(1)} on ${cpus().length} cores)`,
    );
  }
}
