import { expect } from "chai";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  DEFAULT_HL7_LIMITS,
  fromHl7Json,
  type Hl7Limits,
  hl7Limits,
  hl7LimitsFromConfig,
  isBatch,
  mshFieldsOf,
  normalizeHl7,
  NO_HL7_LIMITS,
  parseHeader,
  parseHl7,
  scanHl7,
  splitBatch,
  type Delimiters,
  type ScanOptions,
} from "../../../lib/hl7";
import { createConverter } from "../../../lib/hl7/fhir";
import { PackError } from "../../../lib/errors";
import { fixturePath } from "./fixtures";

const FIXTURES = join(fixturePath(""), "..");
const MSH = "MSH|^~\\&|ADT1|GHH|EHR|HB|20240115083000+0100||ADT^A01^ADT_A01|MSG00001|P|2.5.1";
/** A value that must never show in an error message. */
const SECRET = "Everyman-7711";

function limitFailure(fn: () => unknown): PackError {
  try {
    fn();
  } catch (err) {
    expect(err).to.be.instanceOf(PackError);
    expect((err as PackError).code, (err as Error).message).to.equal("HL7_LIMIT");
    return err as PackError;
  }
  throw new Error("expected HL7_LIMIT");
}

/** Every .hl7 sample under test/fixtures, as bytes. */
function allFixtures(): Array<[string, Buffer]> {
  const out: Array<[string, Buffer]> = [];
  for (const dir of readdirSync(FIXTURES, { withFileTypes: true })) {
    if (!dir.isDirectory()) continue;
    for (const f of readdirSync(join(FIXTURES, dir.name))) {
      if (f.endsWith(".hl7")) out.push([`${dir.name}/${f}`, readFileSync(join(FIXTURES, dir.name, f))]);
    }
  }
  return out;
}

/** A small seeded generator (mulberry32), so a failing case can be reproduced. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Outcome =
  | { starts: number[]; ends: number[]; normalized: boolean }
  | { code: string; details: Record<string, unknown> };

/**
 * The rules of Hl7Limits, one character at a time: segments are the non-blank lines (CR, LF or
 * CR LF ends), MSH/FHS/BHS count from their third field, a repetition separator also starts a
 * component and a subcomponent, a component separator also starts a subcomponent, every
 * delimiter (escape included) counts towards maxDelimiters; the first limit exceeded is reported
 * with its segment and position, and its field for per-field limits.
 */
function naiveScan(text: string, d: Delimiters, limits: Hl7Limits, options: ScanOptions): Outcome {
  const id = (line: string) => (/^[A-Za-z0-9]{1,3}$/.test(line.slice(0, 3)) ? line.slice(0, 3) : "");
  const over = (limit: keyof Hl7Limits, line: string, position: number, field?: number): Outcome => ({
    code: "HL7_LIMIT",
    details: { segment: id(line), position, ...(field === undefined ? {} : { field }), limit },
  });
  const starts: number[] = [];
  const ends: number[] = [];
  let normalized = true;
  let segments = 0;
  let count = 0;
  let i = 0;
  while (i < text.length && starts.length < (options.segments ?? Infinity)) {
    let end = i;
    while (end < text.length && text[end] !== "\r" && text[end] !== "\n") end++;
    const line = text.slice(i, end);
    if (line.length > limits.maxSegmentLength) return over("maxSegmentLength", line, segments + 1);
    if (/^[ \t]*$/.test(line)) normalized = false;
    else {
      if (++segments > limits.maxSegments) return over("maxSegments", line, segments);
      // eslint-disable-next-line no-control-regex -- NUL and the MLLP framing bytes
      const bad = options.control ? line.search(/[\0\x0b\x1c]/) : -1;
      if (bad >= 0) {
        const field = line.slice(0, bad).split(d.field).length - 1;
        return {
          code: "HL7_PARSE",
          details: { segment: id(line), position: segments, ...(field ? { field } : {}) },
        };
      }
      let j = 0;
      let field = 0;
      if (/^(MSH|FHS|BHS)/.test(line) && line[3] === d.field) {
        const p = line.indexOf(d.field, 4);
        if (p >= 0 && p < 10) [j, field] = [p + 1, 3];
      }
      let [reps, comps, subs] = [1, 1, 1];
      for (const c of line.slice(j)) {
        if (![d.field, d.repetition, d.component, d.subcomponent, d.escape].includes(c)) continue;
        if (++count > limits.maxDelimiters) return over("maxDelimiters", line, segments, field || undefined);
        if (c === d.field) {
          if (++field > limits.maxFieldsPerSegment) return over("maxFieldsPerSegment", line, segments);
          [reps, comps, subs] = [1, 1, 1];
          continue;
        }
        if (c === d.repetition && ++reps > limits.maxRepetitionsPerField)
          return over("maxRepetitionsPerField", line, segments, field);
        if (c !== d.subcomponent && c !== d.escape && ++comps > limits.maxComponentsPerField)
          return over("maxComponentsPerField", line, segments, field);
        if (c !== d.escape && ++subs > limits.maxSubcomponentsPerField)
          return over("maxSubcomponentsPerField", line, segments, field);
      }
      starts.push(i);
      ends.push(end);
    }
    if (end >= text.length || text[end] !== "\r" || text[end + 1] === "\n") normalized = false;
    i = end + (text.startsWith("\r\n", end) ? 2 : 1);
  }
  return { starts, ends, normalized };
}

function scanOutcome(text: string, d: Delimiters, limits: Hl7Limits, options: ScanOptions): Outcome {
  try {
    return scanHl7(text, 0, d, limits, options);
  } catch (err) {
    const { code, details } = err as PackError;
    const { segment, position, field, limit } = details as Record<string, unknown>;
    return {
      code,
      details: { segment, position, ...(field === undefined ? {} : { field }), ...(limit ? { limit } : {}) },
    };
  }
}

describe("lib/hl7 limits", () => {
  describe("real messages", () => {
    const samples = allFixtures();

    it("finds the samples", () => {
      expect(samples.length).to.be.greaterThan(10);
    });

    it("every sample under test/fixtures parses with the default limits, as it does with none", () => {
      for (const [name, bytes] of samples) {
        const text = bytes.toString("utf8");
        if (isBatch(text)) {
          const limited = splitBatch(bytes);
          expect(limited.messages, name).to.deep.equal(splitBatch(bytes, NO_HL7_LIMITS).messages);
          for (const m of limited.messages) {
            expect(parseHl7(m).toJSON(), name).to.deep.equal(parseHl7(m, { limits: NO_HL7_LIMITS }).toJSON());
          }
          continue;
        }
        const limited = parseHl7(bytes);
        const unlimited = parseHl7(bytes, { limits: NO_HL7_LIMITS });
        expect(limited.text, name).to.equal(normalizeHl7(bytes));
        expect(limited.text, name).to.equal(unlimited.text);
        expect(limited.toJSON(), name).to.deep.equal(unlimited.toJSON());
        expect(limited.header, name).to.deep.equal(unlimited.header);
        expect(parseHeader(bytes), name).to.deep.equal(limited.header);
        expect(parseHeader(text), name).to.deep.equal(limited.header);
        expect(fromHl7Json(limited.toJSON()).toJSON(), name).to.deep.equal(limited.toJSON());
      }
    });

    it("every ADT and SIU sample converts to FHIR with the default limits", () => {
      const converter = createConverter({ direction: "to-fhir", timezone: "UTC" });
      let converted = 0;
      for (const [name, bytes] of samples) {
        const text = bytes.toString("utf8");
        if (isBatch(text)) continue;
        const { type } = parseHeader(text);
        if (type !== "ADT" && type !== "SIU") continue;
        try {
          converter.toFhir(bytes);
          converted++;
        } catch (err) {
          // a sample whose trigger the converter does not take is not a limit failure
          expect((err as PackError).code, `${name}: ${(err as Error).message}`).to.be.oneOf([
            "HL7_UNSUPPORTED",
            "HL7_CONVERT",
          ]);
        }
      }
      expect(converted).to.be.greaterThan(5);
    });
  });

  describe("each limit", () => {
    const pid = (body: string): string => `${MSH}\rPID|1||${SECRET}|${body}\r`;
    const cases: Array<[keyof Hl7Limits, string, Partial<Hl7Limits>, Record<string, unknown>]> = [
      [
        "maxSegments",
        `${MSH}\r${"NTE|1\r".repeat(20)}`,
        { maxSegments: 10 },
        { position: 11, segment: "NTE" },
      ],
      [
        "maxSegmentLength",
        pid("x".repeat(300)),
        { maxSegmentLength: 200 },
        { position: 2, segment: "PID", hl7ErrorCode: 104 },
      ],
      [
        "maxFieldsPerSegment",
        pid("|".repeat(50)),
        { maxFieldsPerSegment: 40 },
        { position: 2, segment: "PID" },
      ],
      [
        "maxRepetitionsPerField",
        pid(`a${"~a".repeat(30)}`),
        { maxRepetitionsPerField: 20 },
        { position: 2, segment: "PID", field: 4, hl7ErrorCode: 207 },
      ],
      [
        "maxComponentsPerField",
        pid(`a${"^a".repeat(30)}`),
        { maxComponentsPerField: 20 },
        { position: 2, segment: "PID", field: 4 },
      ],
      [
        "maxComponentsPerField",
        pid(`a${"~a^a".repeat(8)}`),
        { maxComponentsPerField: 10 },
        { position: 2, segment: "PID", field: 4 },
      ],
      [
        "maxSubcomponentsPerField",
        pid(`a${"&a".repeat(30)}`),
        { maxSubcomponentsPerField: 20 },
        { position: 2, segment: "PID", field: 4 },
      ],
      [
        "maxDelimiters",
        `${MSH}\r${`ZZZ|${"\\E\\".repeat(10)}\r`.repeat(10)}`,
        { maxDelimiters: 100 },
        { segment: "ZZZ", position: 6 },
      ],
    ];
    for (const [limit, text, limits, where] of cases) {
      it(`${limit}: HL7_LIMIT with the place and the limit, no content`, () => {
        expect(() => parseHl7(text)).to.not.throw();
        const err = limitFailure(() => parseHl7(text, { limits }));
        expect(err.details).to.deep.include({ limit, max: limits[limit], ...where });
        expect(err.message).to.include(limit).and.not.include(SECRET);
        expect(err.message).to.match(/^HL7 limit exceeded at segment \d+ \([A-Z0-9]{3}\)/);
      });
    }

    it("counts MSH from MSH-3: MSH-1 and MSH-2 are no delimiters", () => {
      const text = `${MSH}\r`;
      const fields = text.split("|").length; // MSH-n is the n-th part; MSH-12 is the last
      expect(() => parseHl7(text, { limits: { maxFieldsPerSegment: fields } })).to.not.throw();
      const err = limitFailure(() => parseHl7(text, { limits: { maxFieldsPerSegment: fields - 1 } }));
      expect(err.details).to.deep.include({ segment: "MSH", position: 1 });
      const delimiters = (MSH.slice(9).match(/[|^~\\&]/g) ?? []).length;
      expect(() => parseHl7(text, { limits: { maxDelimiters: delimiters } })).to.not.throw();
      limitFailure(() => parseHl7(text, { limits: { maxDelimiters: delimiters - 1 } }));
    });

    it("counts segments, not blank lines, and LF or CR LF ends like CR", () => {
      const segs = ["MSH" + MSH.slice(3), "EVN|A01", "PID|1||X", "PV1|1|I"];
      for (const eol of ["\r", "\n", "\r\n"]) {
        const text = `${segs.join(`${eol}${eol}  ${eol}`)}${eol}${eol}`;
        const p = parseHl7(text, { limits: { maxSegments: 4 } });
        expect(p.text).to.equal(`${segs.join("\r")}\r`);
        limitFailure(() => parseHl7(text + "NTE|1", { limits: { maxSegments: 4 } }));
      }
    });

    it("refuses a line longer than maxSegmentLength before looking for its end", () => {
      const err = limitFailure(() =>
        parseHl7(`${MSH}\rOBX|1|ED|||${"A".repeat(100)}`, { limits: { maxSegmentLength: 99 } }),
      );
      expect(err.details).to.deep.include({ segment: "OBX", position: 2, max: 99 });
    });

    it("keeps the NUL check: HL7_PARSE with the field", () => {
      try {
        parseHl7(`${MSH}\rPID|1||ab\u0000c\r`);
        expect.fail("no error");
      } catch (err) {
        expect((err as PackError).code).to.equal("HL7_PARSE");
        expect((err as PackError).details).to.deep.include({ position: 2, segment: "PID", field: 3 });
      }
    });

    it("a parse kept for the same text is checked again against stricter limits", () => {
      const text = `${MSH}\r${"NTE|1\r".repeat(20)}`;
      const first = parseHl7(text);
      expect(parseHl7(text)).to.equal(first);
      expect(parseHl7(text, { limits: { maxSegments: 1_000_000 } })).to.equal(first);
      limitFailure(() => parseHl7(text, { limits: { maxSegments: 5 } }));
    });

    it("a structure (fromHl7Json) is held to the limits too", () => {
      const json = parseHl7(`${MSH}\rPID|1||a~b~c~d\r`).toJSON();
      expect(fromHl7Json(json).get("PID", 3, 1, 1, 3)).to.equal("d");
      const err = limitFailure(() => fromHl7Json(json, { limits: { maxRepetitionsPerField: 3 } }));
      expect(err.details).to.deep.include({ segment: "PID", field: 3 });
    });

    it("a batch file counts its segments and delimiters in all, each message's fields on its own", () => {
      const message = (id: string): string => `${MSH.replace("MSG00001", id)}\rPID|1||${id}\r`;
      const batch = `FHS|^~\\&\rBHS|^~\\&\r${message("A")}${message("B")}${message("C")}BTS|3\rFTS|1\r`;
      expect(splitBatch(batch).messages).to.have.length(3);
      expect(splitBatch(batch, { maxSegments: 10 }).messages).to.have.length(3);
      const err = limitFailure(() => splitBatch(batch, { maxSegments: 9 }));
      expect(err.details).to.deep.include({ position: 10, segment: "FTS" });
      // a message of the batch with delimiters of its own is counted with them
      const other = "MSH#$%!@#ADT1#GHH#EHR#HB#20240115083000#$#ADT$A01#X9#P#2.5.1\rPID#1##a%b%c%d\r";
      expect(splitBatch(`${message("A")}${other}`).messages).to.have.length(2);
      const own = limitFailure(() => splitBatch(`${message("A")}${other}`, { maxRepetitionsPerField: 3 }));
      expect(own.details).to.deep.include({ position: 4, segment: "PID", field: 3 });
    });
  });

  describe("header reads", () => {
    it("read MSH only: a later segment over a limit does not matter", () => {
      const text = `${MSH}\rPID|1||${"~".repeat(5000)}\r`;
      expect(parseHeader(text).controlId).to.equal("MSG00001");
      expect(parseHeader(Buffer.from(text)).controlId).to.equal("MSG00001");
      limitFailure(() => parseHl7(text));
    });

    it("an MSH over a limit is HL7_LIMIT, found within maxSegmentLength", () => {
      const big = `${MSH}|${"|".repeat(2_000)}\rEVN|A01\r`;
      const err = limitFailure(() => parseHeader(big));
      expect(err.details).to.deep.include({ segment: "MSH", position: 1, limit: "maxFieldsPerSegment" });
      const long = `${MSH}|${"x".repeat(1_000)}`;
      expect(limitFailure(() => parseHeader(long, { limits: { maxSegmentLength: 500 } })).details).to.include(
        {
          limit: "maxSegmentLength",
        },
      );
      expect(
        limitFailure(() => parseHeader(Buffer.from(long), { limits: { maxSegmentLength: 500 } })).details,
      ).to.include({ limit: "maxSegmentLength" });
    });

    it("takes the event from an EVN among the 8 segments after MSH when MSH-9.2 is empty", () => {
      const v22 = MSH.replace("ADT^A01^ADT_A01", "ADT").replace("2.5.1", "2.2");
      const text = `${v22}\rSFT|x\rEVN|A04\rPID|1||X\r`;
      expect(parseHeader(text).event).to.equal("A04");
      expect(parseHeader(Buffer.from(text)).event).to.equal("A04");
      expect(parseHl7(text).header.event).to.equal("A04");
      const far = `${v22}\r${"NTE|1\r".repeat(8)}EVN|A04\r`;
      expect(parseHeader(far).event).to.equal("");
      expect(parseHl7(far).header.event).to.equal("");
    });

    it("mshFieldsOf reads the MSH fields of a broken header within 64 KiB", () => {
      const found = mshFieldsOf(`${MSH}|${"|".repeat(200_000)}`);
      expect(found?.msh.slice(0, 4)).to.deep.equal(["MSH", "|", "^~\\&", "ADT1"]);
      expect(found?.msh).to.have.length(22);
      expect(found?.msh[10]).to.equal("MSG00001");
      expect(mshFieldsOf(`xxxxxxxxxxMSH|^~\\&|A`)).to.equal(undefined);
      expect(mshFieldsOf("MSH|abc")).to.equal(undefined);
    });
  });

  describe("configuration", () => {
    it("hl7Limits fills in the defaults and accepts Infinity", () => {
      expect(hl7Limits()).to.equal(DEFAULT_HL7_LIMITS);
      expect(hl7Limits({ maxSegments: 5 })).to.deep.equal({ ...DEFAULT_HL7_LIMITS, maxSegments: 5 });
      expect(hl7Limits({ maxDelimiters: Infinity }).maxDelimiters).to.equal(Infinity);
    });

    it("HL7_CONFIG for a limit that is not a positive whole number, or no limit at all", () => {
      for (const bad of [0, -1, 1.5, NaN, "10"] as unknown[]) {
        expect(() => hl7Limits({ maxSegments: bad as number }))
          .to.throw(PackError)
          .with.property("code", "HL7_CONFIG");
      }
      expect(() => hl7Limits({ maxSegmnets: 5 } as unknown as Partial<Hl7Limits>))
        .to.throw(/not an HL7 limit/)
        .with.property("code", "HL7_CONFIG");
    });

    it("hl7LimitsFromConfig: empty keeps the default, 0 is no limit, else a whole number", () => {
      const limits = hl7LimitsFromConfig({ maxSegments: "", maxDelimiters: "0", maxSegmentLength: " 500 " });
      expect(limits).to.deep.equal({
        ...DEFAULT_HL7_LIMITS,
        maxDelimiters: Infinity,
        maxSegmentLength: 500,
      });
      expect(hl7LimitsFromConfig({ name: "x", maxFieldsPerSegment: 12 }).maxFieldsPerSegment).to.equal(12);
      for (const bad of ["abc", "-1", "1.5", "1e3x"]) {
        expect(() => hl7LimitsFromConfig({ maxRepetitionsPerField: bad }))
          .to.throw(/maxRepetitionsPerField/)
          .with.property("code", "HL7_CONFIG");
      }
    });
  });

  describe("configuration: exact errors and defaults", () => {
    const configError = (fn: () => unknown) => {
      try {
        fn();
      } catch (err) {
        expect((err as PackError).code).to.equal("HL7_CONFIG");
        return err as PackError;
      }
      throw new Error("expected HL7_CONFIG");
    };

    it("hl7Limits: no limits given is the defaults, and the two constants are taken as they are", () => {
      expect(hl7Limits()).to.equal(DEFAULT_HL7_LIMITS);
      expect(hl7Limits(DEFAULT_HL7_LIMITS)).to.equal(DEFAULT_HL7_LIMITS);
      expect(hl7Limits(NO_HL7_LIMITS)).to.equal(NO_HL7_LIMITS);
      expect(hl7Limits({ maxSegments: undefined })).to.deep.equal(DEFAULT_HL7_LIMITS);
      expect(Object.isFrozen(hl7Limits({ maxSegments: 3 }))).to.equal(true);
    });

    it("hl7Limits: the messages say what is wrong, and details name the limit", () => {
      for (const bad of [null, 5, "x"]) {
        expect(configError(() => hl7Limits(bad as never)).message).to.equal(
          "HL7 limits must be an object of limit name -> number",
        );
      }
      const unknown = configError(() => hl7Limits({ maxSegmnets: 5 } as never));
      expect(unknown.message).to.equal(
        "maxSegmnets is not an HL7 limit (maxSegments, maxSegmentLength, maxFieldsPerSegment, maxRepetitionsPerField, " +
          "maxComponentsPerField, maxSubcomponentsPerField, maxDelimiters)",
      );
      expect(unknown.details).to.deep.equal({ limit: "maxSegmnets" });
      const value = configError(() => hl7Limits({ maxDelimiters: 0 }));
      expect(value.message).to.equal("HL7 limit maxDelimiters must be a positive whole number");
      expect(value.details).to.deep.equal({ limit: "maxDelimiters" });
    });

    it("hl7LimitsFromConfig: blank, null or absent keeps the default; numbers and number strings are taken", () => {
      expect(
        hl7LimitsFromConfig({ maxSegments: "  ", maxDelimiters: null, maxSegmentLength: 300 }),
      ).to.deep.equal({
        ...DEFAULT_HL7_LIMITS,
        maxSegmentLength: 300,
      });
      expect(hl7LimitsFromConfig({ maxSegments: 0, maxFieldsPerSegment: " 7 " })).to.deep.equal({
        ...DEFAULT_HL7_LIMITS,
        maxSegments: Infinity,
        maxFieldsPerSegment: 7,
      });
      for (const bad of [true, {}, -1, 2.5, "x"]) {
        const err = configError(() => hl7LimitsFromConfig({ maxSegments: bad }));
        expect(err.message).to.equal("maxSegments must be a whole number (0: no limit)");
        expect(err.details).to.deep.equal({ limit: "maxSegments" });
      }
    });

    it("a parse kept for the same text is checked again against stricter limits, whichever limit is stricter", () => {
      const text = `${MSH}\rPID|1||a~b~c\rNTE|1\r`;
      expect(parseHl7(text, { limits: { maxRepetitionsPerField: 100 } }).segments).to.have.length(3);
      expect(
        limitFailure(() => parseHl7(text, { limits: { maxRepetitionsPerField: 2 } })).details,
      ).to.include({
        limit: "maxRepetitionsPerField",
        field: 3,
      });
      expect(parseHl7(text, { limits: { maxSegments: 3 } }).segments).to.have.length(3);
      expect(limitFailure(() => parseHl7(text, { limits: { maxSegments: 2 } })).details).to.include({
        limit: "maxSegments",
      });
    });
  });

  describe("the delimiter scan against a character-by-character count", () => {
    const SETS: Delimiters[] = [
      { field: "|", component: "^", repetition: "~", escape: "\\", subcomponent: "&" },
      { field: "#", component: "*", repetition: "!", escape: "%", subcomponent: "$" },
    ];
    const NAMES = Object.keys(DEFAULT_HL7_LIMITS) as Array<keyof Hl7Limits>;

    function message(next: () => number, d: Delimiters): string {
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)];
      const alphabet = [
        "a",
        "b",
        "1",
        " ",
        d.field,
        d.field,
        d.component,
        d.repetition,
        d.subcomponent,
        d.escape,
      ];
      const ends = ["\r", "\r", "\n", "\r\n"];
      const enc = d.component + d.repetition + d.escape + d.subcomponent;
      let text = `MSH${d.field}${enc}${d.field}A${d.field}B${d.field}${d.field}${d.field}1${d.field}${d.field}ADT${d.component}A01`;
      for (let k = Math.floor(next() * 8); k > 0; k--) text += pick(alphabet);
      for (let s = Math.floor(next() * 6); s > 0; s--) {
        text += pick(ends);
        if (next() < 0.15) text += pick(["", " ", "\t ", ""]) + pick(ends);
        text += pick(["PID", "OBX", "NTE", "ZB1", "PV1"]);
        if (next() < 0.9) text += d.field;
        for (let k = Math.floor(next() * 30); k > 0; k--) text += pick(alphabet);
        if (next() < 0.05) text += pick(["\0", "\x0b", "\x1c"]) + "x";
      }
      if (next() < 0.7) text += pick(ends);
      return text;
    }

    it("finds the same segments and the same first limit exceeded, at the same place", () => {
      const next = random(18);
      let refused = 0;
      for (let n = 0; n < 3000; n++) {
        const d = SETS[n % SETS.length];
        const text = message(next, d);
        const limits = { ...NO_HL7_LIMITS } as Hl7Limits;
        for (const name of NAMES)
          if (next() < 0.4) limits[name] = 1 + Math.floor(next() * (name === "maxSegmentLength" ? 60 : 12));
        const options: ScanOptions = {};
        if (next() < 0.5) options.control = true;
        if (next() < 0.2) options.segments = 1 + Math.floor(next() * 3);
        const want = naiveScan(text, d, limits, options);
        if ("code" in want) refused++;
        expect(
          scanOutcome(text, d, limits, options),
          JSON.stringify({ text, limits, options }),
        ).to.deep.equal(want);
      }
      expect(refused).to.be.within(500, 2500);
    });

    it("a limit of N takes N and refuses N + 1", () => {
      const text = "MSH|^~\\&|A\rPID|a~b^c&d|e\\T\\\rNTE|1\r";
      const at = (limits: Partial<Hl7Limits>) =>
        scanOutcome(text, SETS[0], { ...NO_HL7_LIMITS, ...limits }, {});
      const fine = { starts: [0, 11, 28], ends: [10, 27, 33], normalized: true };
      expect(at({ maxSegments: 3 })).to.deep.equal(fine);
      expect(at({ maxSegments: 2 })).to.deep.include({ code: "HL7_LIMIT" });
      expect(at({ maxSegmentLength: 16 })).to.deep.equal(fine);
      expect(at({ maxSegmentLength: 15 })).to.deep.include({ code: "HL7_LIMIT" });
      expect(at({ maxFieldsPerSegment: 2 })).to.deep.equal(fine);
      expect(at({ maxFieldsPerSegment: 1 })).to.deep.include({
        details: { segment: "PID", position: 2, limit: "maxFieldsPerSegment" },
      });
      expect(at({ maxRepetitionsPerField: 2 })).to.deep.equal(fine);
      expect(at({ maxComponentsPerField: 3 })).to.deep.equal(fine);
      expect(at({ maxComponentsPerField: 2 })).to.deep.include({
        details: { segment: "PID", position: 2, field: 1, limit: "maxComponentsPerField" },
      });
      expect(at({ maxSubcomponentsPerField: 4 })).to.deep.equal(fine);
      expect(at({ maxSubcomponentsPerField: 3 })).to.deep.include({
        details: { segment: "PID", position: 2, field: 1, limit: "maxSubcomponentsPerField" },
      });
      // MSH: none from MSH-3 on; PID: two field separators, ~ ^ & and two escapes; NTE: one
      expect(at({ maxDelimiters: 8 })).to.deep.equal(fine);
      expect(at({ maxDelimiters: 7 })).to.deep.include({
        details: { segment: "NTE", position: 3, limit: "maxDelimiters" },
      });
      expect(at({ maxRepetitionsPerField: 1 })).to.deep.include({
        details: { segment: "PID", position: 2, field: 1, limit: "maxRepetitionsPerField" },
      });
    });

    it("the error message names the place and the limit; 104 for a long segment, 207 for the others", () => {
      const text = "MSH|^~\\&|A\rPID|a^b^c\r";
      const err = limitFailure(() => parseHl7(text, { limits: { maxComponentsPerField: 2 } }));
      expect(err.message).to.equal(
        "HL7 limit exceeded at segment 2 (PID), field PID-1: more than 2 components in one field (maxComponentsPerField)",
      );
      expect(err.details).to.deep.equal({
        segment: "PID",
        position: 2,
        field: 1,
        hl7ErrorCode: 207,
        reason: "more than 2 components in one field (maxComponentsPerField)",
        limit: "maxComponentsPerField",
        max: 2,
      });
      const long = limitFailure(() => parseHl7(text, { limits: { maxSegmentLength: 8 } }));
      expect(long.message).to.equal(
        "HL7 limit exceeded at segment 1 (MSH): more than 8 characters in one segment (maxSegmentLength)",
      );
      expect(long.details).to.include({ hl7ErrorCode: 104 });
      expect(long.details).to.not.have.property("field");
      const unnamed = limitFailure(() =>
        parseHl7("MSH|^~\\&|A\r1-2|a^b^c\r", { limits: { maxComponentsPerField: 2 } }),
      );
      expect(unnamed.message).to.equal(
        "HL7 limit exceeded at segment 2, field ?-1: more than 2 components in one field (maxComponentsPerField)",
      );
    });

    it("segment ends: normalised only for CR ends from the start, with no blank line and a CR at the end", () => {
      const d = SETS[0];
      expect(scanHl7("MSH|^~\\&|A\rPID|1\r", 0, d, DEFAULT_HL7_LIMITS)).to.deep.equal({
        starts: [0, 11],
        ends: [10, 16],
        normalized: true,
      });
      expect(scanHl7("MSH|^~\\&|A\r\nPID|1\n\n \rPV1|1", 0, d, DEFAULT_HL7_LIMITS)).to.deep.equal({
        starts: [0, 12, 21],
        ends: [10, 17, 26],
        normalized: false,
      });
      expect(scanHl7("MSH|^~\\&|A\rPID|1", 0, d, DEFAULT_HL7_LIMITS).normalized).to.equal(false);
      expect(scanHl7("xMSH|^~\\&|A\rPID|1\r", 1, d, DEFAULT_HL7_LIMITS)).to.deep.equal({
        starts: [1, 12],
        ends: [11, 17],
        normalized: false,
      });
    });
  });
});

describe("lib/hl7 limits: the delimiter scan at the edges", () => {
  const d: Delimiters = { field: "|", component: "^", repetition: "~", escape: "\\", subcomponent: "&" };
  const scan = (text: string, limits: Partial<Hl7Limits> = {}, options: ScanOptions = {}) =>
    scanOutcome(text, d, { ...NO_HL7_LIMITS, ...limits }, options);
  const over = (segment: string, position: number, limit: keyof Hl7Limits, field?: number) => ({
    code: "HL7_LIMIT",
    details: { segment, position, ...(field === undefined ? {} : { field }), limit },
  });

  it("counts each delimiter once, wherever it is in a segment that is no header", () => {
    expect(scan("ABC|D\r", { maxDelimiters: 1 })).to.deep.equal({ starts: [0], ends: [5], normalized: true });
    for (const c of ["|", "~", "^", "&", "\\"]) {
      expect(scan(`A${c}B\r`, { maxDelimiters: 1 }), c).to.deep.equal({
        starts: [0],
        ends: [3],
        normalized: true,
      });
      expect(scan(`A${c}B${c}\r`, { maxDelimiters: 1 }), c).to.deep.include({ code: "HL7_LIMIT" });
    }
  });

  it("segments of one character each, with CR or LF ends, are one segment each", () => {
    expect(scan("A\rB\r", { maxSegments: 2 })).to.deep.equal({
      starts: [0, 2],
      ends: [1, 3],
      normalized: true,
    });
    expect(scan("A\nB\n", { maxSegments: 2 })).to.deep.equal({
      starts: [0, 2],
      ends: [1, 3],
      normalized: false,
    });
  });

  it("line ends before the first segment are blank lines, not part of it", () => {
    for (const text of ["\rPID|1\r", "\nPID|1\n", "\nPID|1\r"]) {
      expect(scan(text), JSON.stringify(text)).to.deep.equal({ starts: [1], ends: [6], normalized: false });
    }
  });

  it("an LF and then a CR are two line ends: the next segment starts after the CR", () => {
    expect(scan("MSH|^~\\&|A\n\rPID|1\r")).to.deep.equal({
      starts: [0, 12],
      ends: [10, 17],
      normalized: false,
    });
  });

  it("a NUL at the very start of the text is inside its first segment", () => {
    expect(scan("\x00PID|1\r", {}, { control: true })).to.deep.equal({
      code: "HL7_PARSE",
      details: { segment: "", position: 1 },
    });
  });

  it("FHS and BHS, like MSH, do not count MSH-1 and MSH-2; other segments starting with M, F or B do", () => {
    expect(scan("FHS|^~\\&|A\rBHS|^~\\&|B\r", { maxDelimiters: 1 })).to.deep.equal({
      starts: [0, 11],
      ends: [10, 21],
      normalized: true,
    });
    expect(scan("MRG|^|b\r", { maxDelimiters: 3 })).to.deep.equal({
      starts: [0],
      ends: [7],
      normalized: true,
    });
    expect(scan("MRG|^|b\r", { maxDelimiters: 2 })).to.deep.equal(over("MRG", 1, "maxDelimiters", 1));
  });

  it("a header whose fourth character is not the field separator has no MSH-1 or MSH-2 to skip", () => {
    expect(scan("MSH|^~\\&|A\rBHSx|a|b\r", { maxDelimiters: 1 })).to.deep.equal(
      over("BHS", 2, "maxDelimiters", 1),
    );
  });

  it("an MSH-2 of more than 5 characters is no MSH-2: its characters count as delimiters", () => {
    expect(scan("MSH|^~\\&^~\\&|A\r", { maxDelimiters: 9 })).to.deep.equal(
      over("MSH", 1, "maxDelimiters", 1),
    );
    expect(scan("MSH|^~\\&!#|A\r", { maxDelimiters: 5 })).to.deep.equal(over("MSH", 1, "maxDelimiters", 1));
  });

  it("a header with no field after MSH-2 numbers its fields from MSH-1", () => {
    expect(scan("MSH|^~\\&\r", { maxDelimiters: 2 })).to.deep.equal(over("MSH", 1, "maxDelimiters", 1));
  });

  describe("batch files: each header brings its delimiters", () => {
    it("a header without usable delimiters keeps the current ones", () => {
      expect(scan("FHS|^~\rNTE|a^b\r", { maxDelimiters: 2 }, { batch: true })).to.deep.equal(
        over("FHS", 1, "maxDelimiters", 1),
      );
    });

    it("a header with another field separator and the same encoding characters", () => {
      const text = "MSH|^~\\&|A\rBHS#^~\\&#a|b|c\r";
      expect(scan(text, { maxFieldsPerSegment: 1 }, { batch: true })).to.deep.equal({
        starts: [0, 11],
        ends: [10, 25],
        normalized: true,
      });
      expect(scan(text, { maxFieldsPerSegment: 1 })).to.deep.equal(over("BHS", 2, "maxFieldsPerSegment"));
    });

    it("a header with the same field separator and other encoding characters", () => {
      const text = "MSH|^~\\&|A\rBHS|*~\\&|a^b^c\r";
      expect(scan(text, { maxComponentsPerField: 2 }, { batch: true })).to.deep.equal({
        starts: [0, 11],
        ends: [10, 25],
        normalized: true,
      });
      expect(scan(text, { maxComponentsPerField: 2 })).to.deep.equal(
        over("BHS", 2, "maxComponentsPerField", 3),
      );
    });

    it("a header line that ends right after its encoding characters", () => {
      expect(scan("BHS#*!%$\rNTE#a*b*c*d\r", { maxComponentsPerField: 3 }, { batch: true })).to.deep.equal(
        over("NTE", 2, "maxComponentsPerField", 1),
      );
      expect(scan("FHS#*!%$\r", { maxDelimiters: 5 }, { batch: true })).to.deep.equal({
        starts: [0],
        ends: [8],
        normalized: true,
      });
    });
  });
});
