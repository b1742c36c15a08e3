import { expect } from "chai";
import { mulberry32 } from "../../../../sandbox/pms/data";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createConverter } from "../../../../lib/hl7/fhir";

const FIXTURES = join(__dirname, "..", "..", "..", "..", "..", "test", "fixtures", "hl7-fhir");
const CODES = new Set(["HL7_PARSE", "HL7_BAD_INPUT", "HL7_CONVERT", "HL7_UNSUPPORTED"]);
const ITERATIONS = 10000;

const PIECES = [
  "|",
  "^",
  "~",
  "&",
  "\\",
  "\r",
  "",
  "\\F\\",
  "\\X0D\\",
  "0",
  "9",
  "Z",
  "+99",
  "-0000",
  "\\.br\\",
  " ",
];

function mutate(text: string, rnd: () => number): string {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rnd() * list.length)];
  let out = text;
  const rounds = 1 + Math.floor(rnd() * 4);
  for (let r = 0; r < rounds; r++) {
    const at = Math.floor(rnd() * out.length);
    const segs = out.split("\r");
    switch (Math.floor(rnd() * 8)) {
      case 0:
        out = out.slice(0, at) + out.slice(at + 1 + Math.floor(rnd() * 8));
        break;
      case 1:
        out = out.slice(0, at) + pick(PIECES) + out.slice(at);
        break;
      case 2:
        out = out.slice(0, at) + pick(PIECES) + out.slice(at + 1);
        break;
      case 3: {
        const i = 1 + Math.floor(rnd() * (segs.length - 1));
        segs.splice(i, 1);
        out = segs.join("\r");
        break;
      }
      case 4: {
        const i = Math.floor(rnd() * segs.length);
        segs.splice(i, 0, segs[Math.floor(rnd() * segs.length)]);
        out = segs.join("\r");
        break;
      }
      case 5:
        out = out.slice(0, at);
        break;
      case 6:
        out = out.replace(/\d{8}/, () => String(Math.floor(rnd() * 1e8)).padStart(8, "0"));
        break;
      default: {
        const fields = segs[Math.floor(rnd() * segs.length)] ?? "";
        const parts = fields.split("|");
        if (parts.length > 3) {
          const i = 1 + Math.floor(rnd() * (parts.length - 1));
          const j = 1 + Math.floor(rnd() * (parts.length - 1));
          [parts[i], parts[j]] = [parts[j], parts[i]];
          out = out.replace(fields, parts.join("|"));
        }
      }
    }
  }
  return out;
}

describe("hl7-fhir to-fhir fuzz: mutated sample messages", function () {
  this.timeout(120000);

  it(`${ITERATIONS} seeded mutations: every result is a Bundle or a coded error, never a crash`, () => {
    const samples = readdirSync(FIXTURES)
      .filter((f) => f.endsWith(".hl7"))
      .map((f) => readFileSync(join(FIXTURES, f), "utf8").replace(/\r?\n/g, "\r"));
    const converter = createConverter({ direction: "to-fhir", timezone: "Europe/Berlin" });
    const rnd = mulberry32(0x5eed);
    const seen: Record<string, number> = {};
    for (let i = 0; i < ITERATIONS; i++) {
      const text = mutate(samples[i % samples.length], rnd);
      try {
        const { bundle } = converter.toFhir(text);
        expect(bundle.type, `iteration ${i}`).to.equal("transaction");
        // every reference inside the Bundle points at one of its own entries or is a display
        const urls = new Set((bundle.entry ?? []).map((e) => e.fullUrl));
        const refs = JSON.stringify(bundle).match(/"reference":"urn:uuid:[0-9a-f-]+"/g) ?? [];
        for (const r of refs)
          expect(urls.has(r.slice(13, -1)), `iteration ${i}: dangling ${r}`).to.equal(true);
        seen.ok = (seen.ok ?? 0) + 1;
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        if (typeof code !== "string" || !CODES.has(code)) {
          throw new Error(`iteration ${i}: uncoded failure ${String(err)}\n${JSON.stringify(text)}`);
        }
        seen[code] = (seen[code] ?? 0) + 1;
      }
    }
    // the mutations must exercise both outcomes, or the test proves little
    expect(seen.ok).to.be.greaterThan(ITERATIONS / 10);
    expect(seen.HL7_CONVERT).to.be.greaterThan(0);
    expect(seen.HL7_PARSE).to.be.greaterThan(0);
  });
});
