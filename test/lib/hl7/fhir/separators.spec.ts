import { expect } from "chai";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { isBatch, splitBatch, stripFraming, unescapeHl7, type Delimiters } from "../../../../lib/hl7";
import { createConverter } from "../../../../lib/hl7/fhir";
import { FHIR_CONVERTER_DIR, samples, sampleText } from "../../../support/fhir-converter";

/**
 * Every fixture message converted to FHIR, and every string of every resulting resource scanned for
 * HL7 delimiter characters (component, repetition, subcomponent, escape; the default ones and the
 * message's own). A delimiter in a FHIR string means components were joined instead of mapped. The
 * one allowed case: the character is part of a source value that holds it after unescaping (e.g.
 * `O\S\Neil` is the family name "O^Neil"), found by unescaping every value of the message that
 * carries an escape sequence.
 */

const FIXTURES = join(__dirname, "..", "..", "..", "..", "..", "test", "fixtures");

const converter = createConverter({ direction: "to-fhir", timezone: "UTC" });

/** MSH-1/MSH-2 of a message's text. */
function delimiters(text: string): Delimiters {
  const t = stripFraming(text).replace(/^\uFEFF/, "");
  return {
    field: t[3],
    component: t[4],
    repetition: t[5],
    escape: t[6],
    subcomponent: t[7],
  };
}

/** The delimiter characters a FHIR string must not hold: the default ones and the message's. */
function forbidden(d: Delimiters): string[] {
  return [...new Set(["^", "~", "&", "\\", d.component, d.repetition, d.subcomponent, d.escape])];
}

/** The unescaped values of the message that hold one of `chars` (from escape sequences). */
function escapedValues(text: string, d: Delimiters, chars: string[]): string[] {
  const out = new Set<string>();
  for (const line of stripFraming(text)
    .replace(/^\uFEFF/, "")
    .split(/\r\n|\r|\n/)) {
    const fields = line.split(d.field);
    // MSH-2 holds the delimiters themselves: not a value
    const values = line.startsWith("MSH") ? fields.slice(2) : fields.slice(1);
    for (const field of values) {
      for (const rep of field.split(d.repetition)) {
        for (const comp of rep.split(d.component)) {
          for (const sub of comp.split(d.subcomponent)) {
            if (!sub.includes(d.escape)) continue;
            const value = unescapeHl7(sub, d);
            if (chars.some((c) => value.includes(c))) out.add(value);
          }
        }
      }
    }
  }
  // longest first, so that a value holding another is taken out whole
  return [...out].sort((a, b) => b.length - a.length);
}

/** "entry[2].resource.identifier[0].value" paths of the strings holding a delimiter no source value explains. */
function leaks(bundle: unknown, text: string): string[] {
  const d = delimiters(text);
  const chars = forbidden(d);
  const allowed = escapedValues(text, d, chars);
  const out: string[] = [];
  const walk = (v: unknown, path: string): void => {
    if (typeof v === "string") {
      let rest = v;
      for (const a of allowed) rest = rest.split(a).join("");
      if (chars.some((c) => rest.includes(c))) out.push(`${path} = ${JSON.stringify(v)}`);
    } else if (Array.isArray(v)) {
      v.forEach((x, i) => walk(x, `${path}[${i}]`));
    } else if (v && typeof v === "object") {
      for (const [k, x] of Object.entries(v)) walk(x, path ? `${path}.${k}` : k);
    }
  };
  const entries = (bundle as { entry?: Array<{ resource?: unknown }> }).entry ?? [];
  entries.forEach((e, i) => walk(e.resource, `entry[${i}].resource`));
  return out;
}

/** Each fixture message as [label, text]; a batch file gives one per message. */
function messages(): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const dir of ["hl7-fhir", "hl7"]) {
    for (const f of readdirSync(join(FIXTURES, dir)).filter((n) => n.endsWith(".hl7"))) {
      const text = readFileSync(join(FIXTURES, dir, f), "utf8");
      if (isBatch(text)) {
        splitBatch(text).messages.forEach((m, i) => out.push([`${dir}/${f}#${i + 1}`, m]));
      } else {
        out.push([`${dir}/${f}`, text]);
      }
    }
  }
  for (const name of samples(["ADT", "SIU", "DFT", "BAR"]))
    out.push([`fhir-converter/${name}`, sampleText(name)]);
  return out;
}

describe("hl7-fhir to-fhir: no HL7 delimiter reaches a FHIR string", () => {
  const all = messages();

  it("scans every fixture: ours, lib/hl7's and FHIR-Converter's samples", () => {
    expect(all.filter(([l]) => l.startsWith("hl7-fhir/")).length).to.be.above(7);
    expect(all.filter(([l]) => l.startsWith("hl7/")).length).to.be.above(8);
    expect(all.filter(([l]) => l.startsWith("fhir-converter/")).length).to.equal(
      readdirSync(join(FHIR_CONVERTER_DIR, "input")).filter((f) => f.endsWith(".hl7")).length,
    );
  });

  for (const [label, text] of all) {
    it(label, () => {
      let bundle: unknown;
      try {
        bundle = converter.toFhir(text).bundle;
      } catch (err) {
        // lib/hl7's fixtures include message types hl7-fhir does not convert (and says so)
        expect(label.startsWith("hl7/"), String(err)).to.equal(true);
        expect((err as { code?: string }).code, label).to.equal("HL7_UNSUPPORTED");
        return;
      }
      expect(leaks(bundle, text)).to.deep.equal([]);
    });
  }

  it("finds a delimiter joined into a value, and allows one a source value holds after unescaping", () => {
    const text = "MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5.1\rPID|1||X\\S\\1^^^H^MR\r";
    const bundle = {
      entry: [
        { resource: { identifier: [{ value: "X^1" }], name: [{ family: "2000^2012" }] } },
        { resource: { note: "a & b", alias: ["ok", "x~y"] } },
      ],
    };
    expect(leaks(bundle, text)).to.deep.equal([
      'entry[0].resource.name[0].family = "2000^2012"',
      'entry[1].resource.note = "a & b"',
      'entry[1].resource.alias[1] = "x~y"',
    ]);
  });
});
