import { expect } from "chai";
import {
  buildAck,
  encodeFrame,
  fromHl7Json,
  headerForAck,
  isBatch,
  MllpDecoder,
  parseHeader,
  parseHl7,
  readAck,
  splitBatch,
} from "../../../lib/hl7";
import { PackError } from "../../../lib/errors";
import { mulberry32 } from "../../../sandbox/pms/data";
import { fixture } from "./fixtures";

const SAMPLES = [
  "adt-a01-v2.3.hl7",
  "adt-a01-v2.5.1.hl7",
  "adt-a04-v2.5.1-lf.hl7",
  "siu-s12-v2.8-crlf.hl7",
  "escapes-bom-v2.5.1.hl7",
  "custom-delimiters-v2.5.1.hl7",
  "batch-v2.5.1.hl7",
];
const SPECIAL = [
  "|",
  "^",
  "~",
  "\\",
  "&",
  "\r",
  "\n",
  "\u000b",
  "\u001c",
  "\u0000",
  "\uFEFF",
  "MSH",
  '""',
  "\\X",
  "\\.br\\",
  "é",
];
const CODES = new Set(["HL7_PARSE", "HL7_BAD_INPUT"]);

function mutate(text: string, r: () => number): string {
  let t = text;
  const rounds = 1 + Math.floor(r() * 4);
  for (let k = 0; k < rounds; k++) {
    const at = Math.floor(r() * (t.length + 1));
    switch (Math.floor(r() * 7)) {
      case 0:
        t = t.slice(0, at) + SPECIAL[Math.floor(r() * SPECIAL.length)] + t.slice(at);
        break;
      case 1:
        t = t.slice(0, at) + t.slice(at + 1 + Math.floor(r() * 12));
        break;
      case 2:
        t = t.slice(0, at) + String.fromCharCode(Math.floor(r() * 0x250)) + t.slice(at + 1);
        break;
      case 3:
        t = t.slice(0, at);
        break;
      case 4: {
        const lines = t.split("\r");
        const i = Math.floor(r() * lines.length);
        const j = Math.floor(r() * lines.length);
        [lines[i], lines[j]] = [lines[j], lines[i]];
        t = lines.join("\r");
        break;
      }
      case 5: {
        const lines = t.split(/\r\n|\r|\n/);
        const i = Math.floor(r() * lines.length);
        lines.splice(i, 0, lines[Math.floor(r() * lines.length)]);
        t = lines.join("\r");
        break;
      }
      default:
        t = t.slice(0, at) + t.slice(at, at + 8).toLowerCase() + t.slice(at + 8);
    }
  }
  return t;
}

function coded(err: unknown, what: string): void {
  if (!(err instanceof PackError) || !CODES.has(err.code)) {
    throw new Error(`${what}: not a coded error: ${(err as Error)?.stack ?? String(err)}`);
  }
  expect(err.message).to.be.a("string");
}

describe("lib/hl7 fuzz (seeded): mutated samples never crash, every failure is coded", () => {
  it("10,000 mutations through parse, header read, batch split, ACK and framing", function () {
    this.timeout(60_000);
    const r = mulberry32(0x5eed_4c37);
    const samples = SAMPLES.map(fixture);
    let parsed = 0;
    let failed = 0;
    for (let i = 0; i < 10_000; i++) {
      const input = mutate(samples[i % samples.length], r);
      const asBuffer = r() < 0.3;
      const payload = asBuffer ? Buffer.from(input, "utf8") : input;
      try {
        if (isBatch(input)) {
          for (const m of splitBatch(payload).messages) parseHl7(m);
        } else {
          const p = parseHl7(payload);
          // a successful parse serialises to text that parses to the same structure
          const json = JSON.stringify(p.toJSON());
          const again = fromHl7Json(p.toJSON());
          if (JSON.stringify(again.toJSON()) !== json)
            expect.fail(`mutation ${i}: the structure changed on the way back`);
          if (readAck(buildAck(p.header, "AA")).controlId !== p.header.controlId)
            expect.fail(`mutation ${i}: MSA-2`);
        }
        parsed++;
      } catch (err) {
        if ((err as { name?: string }).name === "AssertionError") throw err;
        coded(err, `mutation ${i}`);
        failed++;
        // an ACK can always be built for what came in
        if (readAck(buildAck(headerForAck(input), "AR", { text: (err as Error).message })).code !== "AR") {
          expect.fail(`mutation ${i}: no AR`);
        }
      }
      try {
        parseHeader(payload);
      } catch (err) {
        coded(err, `header of mutation ${i}`);
      }
      if (i % 10 === 0) {
        const frames: Buffer[] = [];
        const decoder = new MllpDecoder({ frame: (b) => frames.push(b) }, 1 << 20);
        const bytes = Buffer.concat([
          encodeFrame(input),
          Buffer.from(input.slice(0, 5)),
          encodeFrame("MSH|x"),
        ]);
        let at = 0;
        while (at < bytes.length) {
          const n = 1 + Math.floor(r() * 64);
          decoder.push(bytes.subarray(at, at + n));
          at += n;
        }
        // whatever the content, the last frame is intact
        expect(frames[frames.length - 1].toString()).to.equal("MSH|x");
      }
    }
    expect(parsed + failed).to.equal(10_000);
    expect(parsed).to.be.greaterThan(1000);
    expect(failed).to.be.greaterThan(1000);
  });
});
