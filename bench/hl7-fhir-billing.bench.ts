import { readFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { createConverter } from "../lib/hl7/fhir";
import { type Case, measure, median } from "./hl7-fhir.bench";

/**
 * DFT^P03 -> FHIR transaction Bundle per second beside ADT^A01 -> Bundle, per message of about the
 * same size, in the same run (issue #14 target: DFT at least 0.5 of ADT). Two sizes: a small DFT
 * built from the small ADT^A01 fixture (same MSH/PID/PV1, plus two FT1 and a DG1), and
 * FHIR-Converter's 5.4 KB DFT-P03-01 beside the 5.1 KB ADT^A01. Text in, as hl7-fhir gets it
 * from mllp-in; MSH-10 varies per call so lib/hl7's parse cache never answers.
 */

const ROOT = join(__dirname, "..", "..", "test", "fixtures");
const VARIANTS = 512;

function variants(text: string): string[] {
  const cr = text.replace(/^\uFEFF/, "").replace(/\r?\n/g, "\r");
  return Array.from({ length: VARIANTS }, (_, i) =>
    cr.replace(/^(MSH(?:\|[^|\r]*){8}\|)([^|\r]*)/, (_m, head: string, id: string) => `${head}${id}-${i}`),
  );
}

function smallDft(adt: string): string {
  return (
    adt
      .replace(/\r?\n/g, "\r")
      .replace("ADT^A01^ADT_A01", "DFT^P03^DFT_P03")
      .replace("EVN|A01|", "EVN|P03|")
      .replace(/\r+$/, "") +
    "\rFT1|1|TX100||20240115||CG|99213^Office visit^C4|||1|120&USD||||||||I10^Hypertension^I10|004777^Attend^Aaron^^^^^^GHH" +
    "\rFT1|2|TX101||20240115||CG|71045^Xray chest^C4|||2|80&USD\rDG1|1||I10^Hypertension^I10|||F\r"
  );
}

export async function run(): Promise<void> {
  const converter = createConverter({ direction: "to-fhir", timezone: "Europe/Berlin" });
  const adtSmall = readFileSync(join(ROOT, "hl7-fhir", "adt-a01-v2.5.1.hl7"), "utf8");
  const pairs: Array<[string, string, string, string]> = [
    ["small", adtSmall, smallDft(adtSmall), "small DFT^P03 (ADT fixture + 2 FT1 + DG1)"],
    [
      "5 KB",
      readFileSync(join(ROOT, "hl7-fhir", "adt-a01-5kb-v2.5.1.hl7"), "utf8"),
      readFileSync(join(ROOT, "fhir-converter", "input", "DFT-P03-01.hl7"), "utf8"),
      "FHIR-Converter DFT-P03-01",
    ],
  ];
  for (const [size, adtText, dftText, dftLabel] of pairs) {
    const adt = variants(adtText);
    const dft = variants(dftText);
    const adtBytes = Buffer.byteLength(adt[0]);
    const dftBytes = Buffer.byteLength(dft[0]);
    const entries = (t: string): number => converter.toFhir(t).bundle.entry!.length;
    const adtEntries = entries(adt[0]);
    const dftEntries = entries(dft[0]);
    console.log(
      `\n${size}: ADT^A01 ${adtBytes} bytes -> ${adtEntries} entries; ` +
        `${dftLabel} ${dftBytes} bytes -> ${dftEntries} entries`,
    );
    const adtCase: Case = {
      label: "ADT^A01 text -> Bundle",
      one: (i) => converter.toFhir(adt[i % VARIANTS]),
      rates: [],
    };
    const dftCase: Case = {
      label: "DFT^P03 text -> Bundle",
      one: (i) => converter.toFhir(dft[i % VARIANTS]),
      rates: [],
    };
    measure([adtCase, dftCase]);
    const a = median(adtCase.rates.map((r) => r.cpu));
    const d = median(dftCase.rates.map((r) => r.cpu));
    for (const [c, r] of [
      [adtCase, a],
      [dftCase, d],
    ] as const) {
      console.log(
        `  ${c.label.padEnd(26)} ${r.toFixed(0).padStart(8)} /s per core (${(1e6 / r).toFixed(1)} us)`,
      );
    }
    // per message of the same size: the DFT's rate scaled by its size over the ADT's
    const sameSize = (d * dftBytes) / (a * adtBytes);
    console.log(
      `  DFT/ADT per message: x${(d / a).toFixed(2)}; per message of the same size (rate x bytes): ` +
        `x${sameSize.toFixed(2)}; target >= 0.5: ${sameSize >= 0.5 ? "met" : "NOT met"}` +
        ` (load average ${loadavg()[0].toFixed(1)} on ${cpus().length} cores)`,
    );
    console.log(
      `  per Bundle entry written: x${((d * dftEntries) / (a * adtEntries)).toFixed(2)} ` +
        `(a DFT writes charges, diagnoses, coverage and account besides the patient and visit)`,
    );
  }
}
