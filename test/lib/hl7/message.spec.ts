import { expect } from "chai";
import {
  asParsedHl7,
  decodeHl7,
  DEFAULT_DELIMITERS,
  delimitersOf,
  fromHl7Json,
  Hl7Segment,
  type Hl7Json,
  mshFieldsOf,
  NO_HL7_LIMITS,
  normalizeHl7,
  parseHeader,
  parseHl7,
  parseSegmentLine,
  serializeHl7,
  stripFraming,
} from "../../../lib/hl7";
import { fixture, fixtureBytes } from "./fixtures";

interface CodedError {
  code: string;
  details: Record<string, unknown>;
}

function failure(fn: () => unknown): CodedError {
  try {
    fn();
  } catch (err) {
    return err as CodedError;
  }
  throw new Error("expected an error");
}

const MSH = "MSH|^~\\&|ADT1|GHH|EHR|HB|20240115083000+0100||ADT^A01^ADT_A01|MSG00001|P|2.5.1";

describe("lib/hl7 message", () => {
  describe("sample messages", () => {
    it("v2.3 ADT^A01 (CR): header, repetitions, HL7 null", () => {
      const p = parseHl7(fixtureBytes("adt-a01-v2.3.hl7"));
      expect(p.header).to.deep.include({
        type: "ADT",
        event: "A01",
        structure: "",
        controlId: "000001",
        version: "2.3",
        sendingApplication: "REGADT",
        sendingFacility: "MCM",
        receivingApplication: "IFENG",
        receivingFacility: "",
        timestamp: "199601061000",
        acceptAckType: "AL",
        applicationAckType: "NE",
      });
      expect(p.segments.map((s) => s.name)).to.deep.equal(["MSH", "EVN", "PID", "NK1", "PV1"]);
      const pid = p.segment("PID")!;
      expect(pid.reps(3)).to.equal(2);
      expect(pid.get(3, 1, 1, 1)).to.equal("371-66-9256");
      expect(pid.get(5, 2)).to.equal("JAMES");
      expect(pid.get(11, 6)).to.equal('""');
      expect(p.segment("NK1")!.reps(6)).to.equal(2);
      expect(pid.reps(4)).to.equal(1);
      expect(pid.reps(9)).to.equal(0);
      expect(pid.reps(40)).to.equal(0);
    });

    it("reads MSH-15/MSH-16 as codes: blanks are no value, lower case is read as upper case", () => {
      const h = (f15: string, f16: string) => parseHl7(`${MSH}|||${f15}|${f16}\rPID|1||X1`).header;
      expect(h(" ", "")).to.deep.include({ acceptAckType: "", applicationAckType: "" });
      expect(h(" ne ", "al")).to.deep.include({ acceptAckType: "NE", applicationAckType: "AL" });
    });

    it("v2.5.1 ADT^A04 with LF segment ends", () => {
      const p = parseHl7(fixture("adt-a04-v2.5.1-lf.hl7"));
      expect(p.header).to.deep.include({ type: "ADT", event: "A04", structure: "ADT_A01", version: "2.5.1" });
      expect(p.segments).to.have.length(4);
      expect(p.get("PID", 5, 1)).to.equal("Kowalski");
      expect(p.get("PID", 13, 4, 1, 1)).to.equal("anna.k@example.pl");
      expect(p.get("PV1", 44)).to.equal("20240301091000+0100");
      expect(p.text).to.equal(fixture("adt-a04-v2.5.1-lf.hl7").replace(/\n/g, "\r"));
    });

    it("v2.8 SIU^S12 with CR LF, truncation character and subcomponents", () => {
      const p = parseHl7(fixture("siu-s12-v2.8-crlf.hl7"));
      expect(p.header).to.deep.include({
        type: "SIU",
        event: "S12",
        version: "2.8",
        charset: "UNICODE UTF-8",
      });
      expect(p.delimiters.truncation).to.equal("#");
      expect(p.get("PID", 3, 4, 2)).to.equal("2.16.840.1.113883.19.7");
      expect(p.get("PID", 7)).to.equal("1990");
      expect(p.get("TQ1", 7)).to.equal("20240603100000-0500");
      expect(p.select("AIS")).to.have.length(1);
      expect(serializeHl7(p.toJSON())).to.equal(p.text);
    });

    it("escapes, a BOM and trailing blank lines", () => {
      const p = parseHl7(fixtureBytes("escapes-bom-v2.5.1.hl7"));
      expect(p.segments).to.have.length(4);
      expect(p.get("PID", 5, 1)).to.equal("O^Brien&Sons");
      expect(p.get("PID", 5, 2)).to.equal("Pat | Lee");
      expect(p.get("PID", 5, 1, 1, 1)).to.equal("Smith~Jones");
      expect(p.get("PID", 11, 1)).to.equal("1 Main St\nApt 2");
      expect(p.get("NTE", 3)).to.equal("Path C:\\data\\x \r\n ok \\H\\bold\\N\\ ét\u00e9");
      const again = serializeHl7(p.toJSON());
      // \X0D0A\ comes back as the line break it is: \.br\
      expect(again).to.include("NTE|1||Path C:\\E\\data\\E\\x \\.br\\ ok \\H\\bold\\N\\ ét\u00e9");
      expect(parseHl7(again).get("PID", 5, 1)).to.equal("O^Brien&Sons");
      expect(again.startsWith("MSH")).to.equal(true);
    });

    it("custom delimiters from MSH-1/MSH-2", () => {
      const p = parseHl7(fixture("custom-delimiters-v2.5.1.hl7"));
      expect(p.delimiters).to.deep.equal({
        field: "$",
        component: "%",
        repetition: "*",
        escape: "!",
        subcomponent: "@",
      });
      expect(p.header).to.deep.include({
        type: "ADT",
        event: "A28",
        structure: "ADT_A05",
        controlId: "CD-1",
      });
      expect(p.get("PID", 3, 1, 1, 1)).to.equal("ID-6");
      expect(p.get("PID", 5, 1)).to.equal("Doe$Smith");
      expect(p.get("PID", 11, 1)).to.equal("12 Rd*Av");
      expect(serializeHl7(p.toJSON())).to.equal(p.text);
    });

    for (const name of [
      "adt-a01-v2.3.hl7",
      "adt-a01-v2.5.1.hl7",
      "adt-a01-5kb-v2.5.1.hl7",
      "adt-a04-v2.5.1-lf.hl7",
      "siu-s12-v2.8-crlf.hl7",
      "custom-delimiters-v2.5.1.hl7",
    ]) {
      it(`${name}: text -> structure -> text is the normalised text, and the header read alone agrees`, () => {
        const p = parseHl7(fixtureBytes(name));
        expect(fromHl7Json(JSON.parse(JSON.stringify(p.toJSON()))).text).to.equal(p.text);
        expect(normalizeHl7(fixtureBytes(name))).to.equal(p.text);
        expect(parseHeader(fixtureBytes(name))).to.deep.equal(p.header);
        expect(parseHeader(fixture(name))).to.deep.equal(p.header);
      });
    }
  });

  describe("structure", () => {
    it("keeps HL7 numbering: seg[n] is field n, MSH-1 and MSH-2 included", () => {
      const j = parseHl7(`${MSH}\rPID|1||100234^^^GHH^MR~X9^^^SSA||Everyman^Adam||A&B\r`).toJSON();
      const [msh, pid] = j.segments;
      expect(msh.slice(0, 4)).to.deep.equal(["MSH", ["|"], ["^~\\&"], ["ADT1"]]);
      expect(msh[9]).to.deep.equal([["ADT", "A01", "ADT_A01"]]);
      expect(pid[1]).to.deep.equal(["1"]);
      expect(pid[2]).to.deep.equal([""]);
      expect(pid[3]).to.deep.equal([
        ["100234", "", "", "GHH", "MR"],
        ["X9", "", "", "SSA"],
      ]);
      expect(pid[5]).to.deep.equal([["Everyman", "Adam"]]);
      expect(pid[7]).to.deep.equal([[["A", "B"]]]);
    });

    it("re-delimits when MSH-1/MSH-2 of the structure change, escaping values for the new delimiters", () => {
      const j = parseHl7(`${MSH}\rPID|1||X||A$B^C\r`).toJSON();
      j.segments[0][1] = ["$"];
      j.segments[0][2] = ["%*!@"];
      const text = serializeHl7(j);
      expect(text.split("\r")[1]).to.equal("PID$1$$X$$A!F!B%C");
      expect(parseHl7(text).get("PID", 5, 1)).to.equal("A$B");
    });

    it("edits: a changed value is escaped on the way out", () => {
      const j = parseHl7(`${MSH}\rPID|1||X||Doe^Jane\r`).toJSON();
      (j.segments[1][5][0] as string[])[0] = "O'Neil|Smith";
      expect(serializeHl7(j).split("\r")[1]).to.equal("PID|1||X||O'Neil\\F\\Smith^Jane");
    });

    it("rejects wrong shapes with HL7_BAD_INPUT", () => {
      const bad: unknown[] = [
        {},
        { segments: [] },
        { segments: ["MSH"] },
        { segments: [["PID", ["1"]]] },
        { segments: [["MSH", ["|"], ["^~\\&"], "ADT1"]] },
        {
          segments: [
            ["MSH", ["|"], ["^~\\&"]],
            ["pid", ["1"]],
          ],
        },
        {
          segments: [
            ["MSH", ["|"], ["^~\\&"]],
            ["PID", [[[1]]]],
          ],
        },
        {
          segments: [
            ["MSH", ["|"], ["^~\\&"]],
            ["MSH", ["|"]],
          ],
        },
      ];
      for (const b of bad)
        expect(failure(() => fromHl7Json(b)).code, JSON.stringify(b)).to.equal("HL7_BAD_INPUT");
      expect(failure(() => asParsedHl7(42)).code).to.equal("HL7_BAD_INPUT");
      expect(failure(() => parseHl7({} as string)).code).to.equal("HL7_BAD_INPUT");
    });

    it("a structure whose header is unusable fails with HL7_PARSE", () => {
      const j: Hl7Json = { segments: [["MSH", ["|"], ["^~\\&"], ["A"]]] };
      expect(failure(() => fromHl7Json(j)).details).to.include({ segment: "MSH", field: 9 });
    });
  });

  describe("malformed input: HL7_PARSE with the position", () => {
    const cases: Array<[string, string, Record<string, unknown>]> = [
      ["empty", "\r\n \r", { position: 0 }],
      ["no MSH first", "PID|1\r", { segment: "PID", position: 1 }],
      ["a batch header", "FHS|^~\\&|A\r", { segment: "FHS", position: 1 }],
      ["too short an MSH", "MSH|^~\r", { segment: "MSH", field: 1 }],
      ["alphanumeric field separator", "MSHA^~\\&A\r", { segment: "MSH", field: 1 }],
      ["repeated encoding characters", "MSH|^^\\&|A|B|C|D|1||ADT^A01|1|P|2.5\r", { field: 2 }],
      ["MSH-9 missing", "MSH|^~\\&|A|B|C|D|1|||1|P|2.5\r", { field: 9, hl7ErrorCode: 101 }],
      ["MSH-9 not a type", "MSH|^~\\&|A|B|C|D|1||adt^A01|1|P|2.5\r", { field: 9, hl7ErrorCode: 200 }],
      ["MSH-10 missing", "MSH|^~\\&|A|B|C|D|1||ADT^A01||P|2.5\r", { field: 10, hl7ErrorCode: 101 }],
      ["MSH-12 missing", "MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P\r", { field: 12, hl7ErrorCode: 101 }],
      ["MSH-12 not a version", "MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|two\r", { field: 12, hl7ErrorCode: 203 }],
      ["a lower-case segment", `${MSH}\rEVN|A01\rpid|1\r`, { position: 3, hl7ErrorCode: 100 }],
      ["a line that is no segment", `${MSH}\rEVN|A01\rEveryman^Adam\r`, { position: 3, segment: "" }],
      ["a long segment ID", `${MSH}\rPIDX|1\r`, { position: 2, segment: "PIDX" }],
      ["an indented segment", `${MSH}\r PID|1\r`, { position: 2 }],
      ["a second MSH", `${MSH}\r${MSH}\r`, { position: 2, segment: "MSH" }],
      ["a NUL byte", `${MSH}\rPID|1||ab\u0000c\r`, { position: 2, segment: "PID", field: 3 }],
      ["a framing byte inside", `${MSH}\rPID|1\u001c|x\r`, { position: 2 }],
    ];
    for (const [what, text, details] of cases) {
      it(what, () => {
        const e = failure(() => parseHl7(text));
        expect(e.code).to.equal("HL7_PARSE");
        expect(e.details).to.include(details);
        expect(e.details.reason).to.be.a("string");
      });
    }

    it("the header read alone fails the same way on a bad MSH", () => {
      const e = failure(() => parseHeader("MSH|^~\\&|A|B|C|D|1||ADT^A01||P|2.5\r"));
      expect(e.code).to.equal("HL7_PARSE");
      expect(e.details).to.include({ segment: "MSH", field: 10 });
    });

    it("validate: a value that does not fit its data type, located by segment and field", () => {
      const text = `${MSH}\rEVN|A01\rPID|1||X||Doe||notadate|M\r`;
      expect(() => parseHl7(text)).not.to.throw();
      const e = failure(() => parseHl7(text, { validate: true }));
      expect(e.code).to.equal("HL7_PARSE");
      expect(e.details).to.include({ segment: "PID", position: 3, field: 7, hl7ErrorCode: 102 });
    });
  });

  describe("character sets and reuse", () => {
    it("decodes a Buffer in the character set MSH-18 names", () => {
      const latin1 = Buffer.from(
        `MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5||||||8859/1\rPID|1||X||Müller^Zoë\r`,
        "latin1",
      );
      expect(parseHl7(latin1).get("PID", 5, 2)).to.equal("Zoë");
      const latin2 = Buffer.concat([
        Buffer.from("MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5||||||8859/2\rPID|1||X||"),
        Buffer.from([0xb3, 0xf3, 0x64, 0xbc]),
        Buffer.from("\r"),
      ]);
      expect(parseHl7(latin2).get("PID", 5)).to.equal("łódź");
    });

    it("parses the same text once: a second parse of the same string is the same object", () => {
      const text = `${MSH}\rPID|1||CACHE-${Date.now()}\r`;
      expect(parseHl7(text)).to.equal(parseHl7(text));
      expect(asParsedHl7(text)).to.equal(parseHl7(text));
    });

    it("gives hl7v2's HL7Message for its typed API", () => {
      const m = parseHl7(fixture("adt-a01-v2.5.1.hl7")).hl7v2();
      expect(m.version).to.equal("2.5.1");
      expect(m.getSegment("PID")?.field(5).getValue(2)).to.equal("Adam");
    });
  });

  describe("normalisation: one text, segments ended by CR", () => {
    it("CR LF and LF segment ends become CR, and the last segment gets one", () => {
      expect(normalizeHl7("MSH|a\r\nPID|1\nPV1|1\rOBX|1")).to.equal("MSH|a\rPID|1\rPV1|1\rOBX|1\r");
      expect(normalizeHl7("MSH|a\rPID|1")).to.equal("MSH|a\rPID|1\r");
      expect(normalizeHl7("MSH|a\rPID|1\r")).to.equal("MSH|a\rPID|1\r");
    });

    it("drops the byte order mark and the MLLP start and end bytes around the text, in either order", () => {
      expect(normalizeHl7("\uFEFF\x0bMSH|a\x1c\r\n")).to.equal("MSH|a\r");
      expect(normalizeHl7("\x0b\uFEFFMSH|a\x1c")).to.equal("MSH|a\r");
      expect(normalizeHl7("MSH|a\x1c\r")).to.equal("MSH|a\r");
      expect(normalizeHl7("MSH|a\x1c\n")).to.equal("MSH|a\r");
      expect(normalizeHl7("\x0b\x1c\r\n")).to.equal("");
    });

    it("keeps a 0x1C that is not the frame's end (the parser then refuses it)", () => {
      expect(normalizeHl7("MSH|a\x1cb\r")).to.equal("MSH|a\x1cb\r");
      expect(normalizeHl7("MSH|a\x1cb\x1c")).to.equal("MSH|a\x1cb\x1c\r");
      expect(normalizeHl7("MSH|a\x1c\r\nPID|1")).to.equal("MSH|a\x1c\rPID|1\r");
    });

    it("drops blank segments: empty, or spaces and tabs only", () => {
      expect(normalizeHl7("MSH|a\r \t\rPID|1")).to.equal("MSH|a\rPID|1\r");
      expect(normalizeHl7("MSH|a\r\r\nPID|1\r\n\r\n")).to.equal("MSH|a\rPID|1\r");
      expect(normalizeHl7(" \r\t\r\n")).to.equal("");
      expect(normalizeHl7("MSH| \rPID|\t")).to.equal("MSH| \rPID|\t\r");
    });

    it("reads a Buffer in the character set MSH-18 names", () => {
      const bytes = Buffer.from(
        "MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5||||||8859/1\nPID|1||X||M\xfcller\n",
        "latin1",
      );
      expect(normalizeHl7(bytes)).to.equal(
        "MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5||||||8859/1\rPID|1||X||Müller\r",
      );
    });
  });

  describe("decoding bytes (decodeHl7)", () => {
    const HEAD = "MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5||||||";
    const latin1 = (text: string) => Buffer.from(text, "latin1");

    it("drops a UTF-8 byte order mark, alone or after the MLLP start byte, and reads MSH-18 after it", () => {
      const body = latin1(`${HEAD}8859/1\rPID|1||X||M\xfcller\r`);
      const bom = Buffer.from([0xef, 0xbb, 0xbf]);
      const want = `${HEAD}8859/1\rPID|1||X||Müller\r`;
      expect(decodeHl7(Buffer.concat([bom, body]))).to.equal(want);
      expect(decodeHl7(Buffer.concat([Buffer.from([0x0b]), bom, body]))).to.equal(want);
      expect(decodeHl7(Buffer.concat([Buffer.from([0x0b]), body]))).to.equal(want);
      expect(decodeHl7(body)).to.equal(want);
    });

    it("UTF-8 when MSH-18 is absent, empty or unknown", () => {
      const text = "MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5\rPID|1||X||Müller\r";
      expect(decodeHl7(Buffer.from(text))).to.equal(text);
      expect(decodeHl7(Buffer.from(`${HEAD}KLINGON\rPID|1||X||Müller\r`))).to.equal(
        `${HEAD}KLINGON\rPID|1||X||Müller\r`,
      );
      expect(decodeHl7(Buffer.from(`${HEAD}UNICODE UTF-8\rPID|Zoë\r`))).to.equal(
        `${HEAD}UNICODE UTF-8\rPID|Zoë\r`,
      );
    });

    it("8859/1 is ISO 8859-1 (0x80 is U+0080), not windows-1252 (where it is the euro sign)", () => {
      expect(decodeHl7(latin1(`${HEAD}8859/1\rNTE|1||\x80\r`))).to.equal(`${HEAD}8859/1\rNTE|1||\u0080\r`);
    });

    it("reads MSH-18.1 only, in upper case, whatever the delimiters", () => {
      const text = "MSH#*~\\&#A#B#C#D#1##ADT*A01#1#P#2.5######8859/2*X#\rPID#1##X##";
      expect(
        decodeHl7(Buffer.concat([latin1(text), Buffer.from([0xb3, 0xf3, 0x64, 0xbc]), latin1("\r")])),
      ).to.equal(`${text}łódź\r`);
      expect(decodeHl7(Buffer.concat([latin1(`${HEAD} 8859/2 \r`), Buffer.from([0xb3])]))).to.equal(
        `${HEAD} 8859/2 \rł`,
      );
    });

    it("a batch file's header (FHS or BHS) names the character set in the same place", () => {
      for (const id of ["FHS", "BHS"]) {
        const text = `${id}|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5||||||8859/1\rNTE|M\xfcller\r`;
        expect(decodeHl7(latin1(text)), id).to.equal(
          `${id}|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5||||||8859/1\rNTE|Müller\r`,
        );
      }
    });

    it("text that does not start with a header is read as UTF-8", () => {
      const text = "PID|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5||||||8859/1\rNTE|Zoë\r";
      expect(decodeHl7(Buffer.from(text))).to.equal(text);
    });
  });

  describe("framing around a message (stripFraming)", () => {
    it("removes the byte order mark, the MLLP start byte and the end byte with its CR LF", () => {
      expect(stripFraming("\uFEFF\x0bMSH|a\x1c\r\n")).to.equal("MSH|a");
      expect(stripFraming("\x0b\uFEFFMSH|a\x1c")).to.equal("MSH|a");
      expect(stripFraming("MSH|a\x1c\r")).to.equal("MSH|a");
      expect(stripFraming("MSH|a\x1c\n")).to.equal("MSH|a");
    });

    it("leaves segment ends, and a 0x1C that is not at the end, as they are", () => {
      expect(stripFraming("MSH|a\r\n")).to.equal("MSH|a\r\n");
      expect(stripFraming("MSH|a\n")).to.equal("MSH|a\n");
      expect(stripFraming("MSH|a\x1cb\r")).to.equal("MSH|a\x1cb\r");
    });

    it("a frame with nothing in it is an empty message", () => {
      for (const limits of [undefined, NO_HL7_LIMITS]) {
        const e = failure(() => parseHl7("\x0b\x1c\r\n", { limits }));
        expect(e.code).to.equal("HL7_PARSE");
        expect(e.details).to.deep.equal({
          segment: "",
          position: 0,
          hl7ErrorCode: 100,
          reason: "the message is empty",
        });
        expect((e as unknown as Error).message).to.equal("HL7 parse error at message: the message is empty");
      }
    });
  });

  describe("error messages say where", () => {
    const message = (fn: () => unknown) => (failure(fn) as unknown as Error).message;

    it("segment, its ID and the field as SEG-n", () => {
      expect(message(() => parseHl7("MSH|^~\r"))).to.equal(
        "HL7 parse error at segment 1 (MSH), field MSH-1: the header is too short to hold its delimiters",
      );
      expect(message(() => parseHl7("MSH|^~\\&|A|B|C|D|1||ADT^A01||P|2.5\r"))).to.match(
        /^HL7 parse error at segment 1 \(MSH\), field MSH-10: /,
      );
    });

    it("a segment ID that cannot be shown is left out, and written ? in the field", () => {
      for (const limits of [undefined, NO_HL7_LIMITS]) {
        const e = failure(() => parseHl7(`${MSH}\rE-v|a\u0000\r`, { limits }));
        expect(e.details, "details").to.include({ segment: "", position: 2, field: 1, hl7ErrorCode: 102 });
        expect((e as unknown as Error).message).to.equal(
          "HL7 parse error at segment 2, field ?-1: a NUL or MLLP framing byte (0x0B, 0x1C) inside a segment",
        );
      }
    });

    it("a batch file is refused with or without limits", () => {
      for (const limits of [undefined, NO_HL7_LIMITS]) {
        const e = failure(() => parseHl7("FHS|^~\\&|A\rBHS|^~\\&|A\r", { limits }));
        expect(e.details).to.deep.equal({
          segment: "FHS",
          position: 1,
          hl7ErrorCode: 100,
          reason: "this is a batch file: split it into messages first",
        });
      }
    });
  });

  describe("NUL and framing bytes inside a segment, with or without limits", () => {
    for (const limits of [undefined, NO_HL7_LIMITS]) {
      const name = limits ? "no limits" : "default limits";
      it(`${name}: the segment and the field that holds the byte`, () => {
        const e = failure(() => parseHl7(`${MSH}\rPID|1||ab\u0000c\r`, { limits }));
        expect(e.code).to.equal("HL7_PARSE");
        expect(e.details).to.deep.equal({
          segment: "PID",
          position: 2,
          field: 3,
          hl7ErrorCode: 102,
          reason: "a NUL or MLLP framing byte (0x0B, 0x1C) inside a segment",
        });
      });

      it(`${name}: counts fields by the message's own field separator`, () => {
        const msh = "MSH#^~\\&#A#B#C#D#1##ADT^A01#1#P#2.5";
        const e = failure(() => parseHl7(`${msh}\rPID#1|2#ab\u000bc\r`, { limits }));
        expect(e.details).to.include({ segment: "PID", position: 2, field: 2 });
      });

      it(`${name}: a byte in the segment ID has no field`, () => {
        const e = failure(() => parseHl7(`${MSH}\rP\u0000D|1\r`, { limits }));
        expect(e.details.field).to.equal(undefined);
        expect(e.details).to.include({
          segment: "",
          position: 2,
          hl7ErrorCode: 102,
          reason: "a NUL or MLLP framing byte (0x0B, 0x1C) inside a segment",
        });
        expect((e as unknown as Error).message).to.equal(
          "HL7 parse error at segment 2: a NUL or MLLP framing byte (0x0B, 0x1C) inside a segment",
        );
      });
    }
  });

  describe("the read view of a segment (Hl7Segment), from text and from a structure alike", () => {
    const TEXT =
      "MSH|^~\\&|APP^FAC&X^ISO~APP2|FAC^^|||20240101||ADT^A01|C\\F\\1|P|2.5\r" +
      "PID|1|^&|123^^^H&1.2&ISO~456||Doe^Jane^^^^^L~Roe||19800101|F|||Main\\S\\St^^Town|&|\r";
    const ways: Array<[string, () => ReturnType<typeof parseHl7>]> = [
      ["text", () => parseHl7(TEXT)],
      ["structure", () => fromHl7Json(parseHl7(TEXT).toJSON())],
    ];
    for (const [way, make] of ways) {
      it(`${way}: fieldCount is the last field present, MSH-1 counted`, () => {
        const m = make();
        expect(m.segment("MSH")!.fieldCount).to.equal(12);
        expect(m.segment("PID")!.fieldCount).to.equal(13);
      });

      it(`${way}: field(n) by HL7 number; MSH-1 is the separator and MSH-2 the encoding characters`, () => {
        const msh = make().segment("MSH")!;
        expect(msh.field(0)).to.equal(undefined);
        expect(msh.field(1)).to.deep.equal(["|"]);
        expect(msh.field(2)).to.deep.equal(["^~\\&"]);
        expect(msh.field(3)).to.deep.equal([["APP", ["FAC", "X"], "ISO"], "APP2"]);
        expect(msh.field(12)).to.deep.equal(["2.5"]);
        expect(msh.field(13)).to.equal(undefined);
        expect(make().segment("PID")!.field(14)).to.equal(undefined);
      });

      it(`${way}: get(field, component, subcomponent, repetition) reads one unescaped value, "" when absent`, () => {
        const m = make();
        const msh = m.segment("MSH")!;
        expect([msh.get(1), msh.get(2), msh.get(10)]).to.deep.equal(["|", "^~\\&", "C|1"]);
        expect([
          msh.get(3),
          msh.get(3, 2),
          msh.get(3, 2, 2),
          msh.get(3, 2, 3),
          msh.get(3, 3, 2),
        ]).to.deep.equal(["APP", "FAC", "X", "", ""]);
        expect([
          msh.get(3, 1, 1, 1),
          msh.get(3, 2, 1, 1),
          msh.get(3, 1, 2, 1),
          msh.get(3, 1, 1, 2),
        ]).to.deep.equal(["APP2", "", "", ""]);
        const pid = m.segment("PID")!;
        expect([pid.get(8), pid.get(8, 1, 2), pid.get(8, 2), pid.get(11, 1), pid.get(5, 7)]).to.deep.equal([
          "F",
          "",
          "",
          "Main^St",
          "L",
        ]);
        expect(m.get("PID", 3, 4, 2)).to.equal("1.2");
        expect(m.get("PID", 99)).to.equal("");
        expect(m.get("ZZZ", 1)).to.equal("");
      });

      it(`${way}: reps(n) counts repetitions, 0 for an absent field or one whose every value is empty`, () => {
        const pid = make().segment("PID")!;
        expect([
          pid.reps(1),
          pid.reps(2),
          pid.reps(3),
          pid.reps(4),
          pid.reps(5),
          pid.reps(12),
          pid.reps(13),
        ]).to.deep.equal([1, 0, 2, 0, 2, 0, 0]);
        expect(pid.reps(14)).to.equal(0);
        expect(parseHl7(`${MSH}\rPID|1|^&x|~^|\r`).segment("PID")!.reps(2)).to.equal(1);
        expect(parseHl7(`${MSH}\rPID|1|^&x|~^|\r`).segment("PID")!.reps(3)).to.equal(0);
      });

      it(`${way}: components(n, repetition) lists one repetition's components (their first subcomponent)`, () => {
        const pid = make().segment("PID")!;
        expect(pid.components(5)).to.deep.equal(["Doe", "Jane", "", "", "", "", "L"]);
        expect(pid.components(5, 1)).to.deep.equal(["Roe"]);
        expect(pid.components(3)).to.deep.equal(["123", "", "", "H"]);
        expect(pid.components(1)).to.deep.equal(["1"]);
        expect(pid.components(5, 2)).to.deep.equal([]);
        expect(pid.components(99)).to.deep.equal([]);
      });

      it(`${way}: text(n) is the field as written (escaped, all repetitions), toString() the segment`, () => {
        const m = make();
        const msh = m.segment("MSH")!;
        const pid = m.segment("PID")!;
        expect([msh.text(1), msh.text(2), msh.text(3), msh.text(10)]).to.deep.equal([
          "|",
          "^~\\&",
          "APP^FAC&X^ISO~APP2",
          "C\\F\\1",
        ]);
        expect([pid.text(5), pid.text(11), pid.text(99)]).to.deep.equal([
          "Doe^Jane^^^^^L~Roe",
          "Main\\S\\St^^Town",
          "",
        ]);
        expect(`${msh}\r${pid}\r`).to.equal(TEXT);
        expect(m.text).to.equal(TEXT);
      });
    }

    it("an MSH with nothing after MSH-2 has 2 fields", () => {
      const j: Hl7Json = { segments: [["MSH", ["|"], ["^~\\&"]]] };
      expect(failure(() => fromHl7Json(j)).details).to.include({ field: 9 });
    });
  });

  describe("the header", () => {
    const TEXT =
      "MSH|^~\\&|APP^FAC&X^ISO~APP2|FAC^^|R\\T\\A||20240101^S||ADT^A01&X^ADT_A01~ORU^R01|C\\F\\1|P&T|2.5|||al| ne ||UNICODE UTF-8\r";

    it("HD fields: first repetition, each component's first subcomponent, trailing empty components dropped", () => {
      for (const h of [parseHl7(TEXT).header, parseHeader(TEXT), parseHeader(Buffer.from(TEXT))]) {
        expect(h).to.deep.include({
          type: "ADT",
          event: "A01",
          structure: "ADT_A01",
          controlId: "C|1",
          version: "2.5",
          sendingApplication: "APP^FAC^ISO",
          sendingFacility: "FAC",
          receivingApplication: "R&A",
          receivingFacility: "",
          timestamp: "20240101",
          processingId: "P",
          acceptAckType: "AL",
          applicationAckType: "NE",
          charset: "UNICODE UTF-8",
        });
        expect(h.msh).to.deep.equal([
          "MSH",
          "|",
          "^~\\&",
          "APP^FAC&X^ISO~APP2",
          "FAC^^",
          "R\\T\\A",
          "",
          "20240101^S",
          "",
          "ADT^A01&X^ADT_A01~ORU^R01",
          "C\\F\\1",
          "P&T",
          "2.5",
          "",
          "",
          "al",
          " ne ",
          "",
          "UNICODE UTF-8",
        ]);
      }
    });

    it("HL7_PARSE reasons for an unusable MSH-9, MSH-10 and MSH-12", () => {
      const at = (msh9: string, msh10: string, msh12: string) =>
        failure(() => parseHl7(`MSH|^~\\&|A|B|C|D|1||${msh9}|${msh10}|P|${msh12}\r`)).details;
      expect(at("", "1", "2.5")).to.deep.equal({
        segment: "MSH",
        position: 1,
        field: 9,
        hl7ErrorCode: 101,
        reason: "MSH-9 (message type) is empty",
      });
      for (const type of ["ADTX", "XADT", "AD", "adt"]) {
        expect(at(`${type}^A01`, "1", "2.5"), type).to.include({
          field: 9,
          hl7ErrorCode: 200,
          reason: "MSH-9.1 is not a 3-character message type",
        });
      }
      expect(at("ADT^A01", "", "2.5")).to.include({
        field: 10,
        hl7ErrorCode: 101,
        reason: "MSH-10 (message control ID) is empty",
      });
      expect(at("ADT^A01", "1", "")).to.include({
        field: 12,
        hl7ErrorCode: 101,
        reason: "MSH-12 (version ID) is empty",
      });
      expect(at("ADT^A01", "1", "2.x")).to.include({
        field: 12,
        hl7ErrorCode: 203,
        reason: "MSH-12 is not an HL7 version such as 2.5.1",
      });
      expect(parseHl7("MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5.1.1\r").header.version).to.equal("2.5.1.1");
    });

    it("the event from EVN-1 when MSH-9.2 is empty: an EVN segment, not one whose ID starts with EVN", () => {
      const msh = "MSH|^~\\&|A|B|C|D|1||ADT|1|P|2.5";
      const text = `${msh}\rEVNX|A01\rEVN|A02\r`;
      expect(parseHeader(text).event).to.equal("A02");
      expect(parseHeader(Buffer.from(text)).event).to.equal("A02");
      expect(parseHeader(`${msh}\rEVN\rEVN|A03\r`).event).to.equal("");
      expect(parseHl7(`${msh}\rEVN\rEVN|A03\r`).header.event).to.equal("");
    });

    it("EVN-1 counts only within the 8 segments after MSH, in a Buffer too", () => {
      const msh = "MSH|^~\\&|A|B|C|D|1||ADT|1|P|2.5";
      const near = `${msh}\r${"NTE|1\r".repeat(7)}EVN|A04\r`;
      const far = `${msh}\r${"NTE|1\r".repeat(8)}EVN|A04\r`;
      for (const read of [
        parseHeader,
        (t: string) => parseHeader(Buffer.from(t)),
        (t: string) => parseHl7(t).header,
      ]) {
        expect(read(near).event).to.equal("A04");
        expect(read(far).event).to.equal("");
      }
    });

    it("a header read skips MLLP start bytes, byte order marks and blank lines before MSH", () => {
      const msh = "MSH|^~\\&|A|B|C|D|1||ADT^A01|CTL|P|2.5\r";
      const bom = Buffer.from([0xef, 0xbb, 0xbf]);
      for (const lead of [[0x0b], [0x0d, 0x0a, 0x0d], [0x0b, 0xef, 0xbb, 0xbf], [0x0a]]) {
        const buf = Buffer.concat([Buffer.from(lead), Buffer.from(msh)]);
        expect(parseHeader(buf).controlId, JSON.stringify(lead)).to.equal("CTL");
      }
      expect(parseHeader(Buffer.concat([bom, Buffer.from([0x0b]), Buffer.from(msh)])).controlId).to.equal(
        "CTL",
      );
      for (const lead of ["\uFEFF\x0b", "\r\n \t\r", "\t\n", " \r\n"]) {
        expect(parseHeader(lead + msh).controlId, JSON.stringify(lead)).to.equal("CTL");
        expect(
          parseHl7(lead.replaceAll("\uFEFF", "").replaceAll("\x0b", "") + msh).header.controlId,
          JSON.stringify(lead),
        ).to.equal("CTL");
      }
    });

    it("an indented MSH is no MSH", () => {
      for (const text of [
        " MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5\r",
        "\r\n\t MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5\r",
      ]) {
        expect(failure(() => parseHeader(text)).details, JSON.stringify(text)).to.deep.equal({
          segment: "",
          position: 1,
          hl7ErrorCode: 100,
          reason: "a message must start with an MSH segment",
        });
      }
      expect(failure(() => parseHl7("PID|1\r")).details.reason).to.equal(
        "a message must start with an MSH segment",
      );
    });

    it("the delimiters are read from the MSH line only, not from the next segment", () => {
      const e = failure(() => parseHl7("MSH|^~\\&\rPID|1|2\r"));
      expect(e.details).to.deep.equal({
        segment: "MSH",
        position: 1,
        field: 9,
        hl7ErrorCode: 101,
        reason: "MSH-9 (message type) is empty",
      });
    });

    it("a Buffer's header is read within maxSegmentLength characters, however many bytes they take", () => {
      const line = `MSH|^~\\&|A|B|C|D|1||ADT|1|P|2.5|||||||${"€".repeat(20)}`;
      const buf = Buffer.from(`${line}\rEVN|A01\r`);
      const h = parseHeader(buf, { limits: { maxSegmentLength: line.length } });
      expect(h.msh[19]).to.equal("€".repeat(20));
      expect(h.event).to.equal("A01");
      const e = failure(() => parseHeader(buf, { limits: { maxSegmentLength: line.length - 1 } }));
      expect(e.code).to.equal("HL7_LIMIT");
      expect(e.details).to.include({ segment: "MSH", position: 1, limit: "maxSegmentLength" });
      const evn = failure(() =>
        parseHeader(Buffer.from(`${line}\rEVN|A01${"x".repeat(60)}\r`), { limits: { maxSegmentLength: 60 } }),
      );
      expect(evn.details).to.include({ segment: "EVN", position: 2, limit: "maxSegmentLength" });
    });
  });

  describe("structures (fromHl7Json): shapes, defaults and messages", () => {
    const bad = (json: unknown) =>
      failure(() => fromHl7Json(json)) as unknown as { code: string; message: string };

    it("HL7_BAD_INPUT names what is wrong", () => {
      const cases: Array<[unknown, string]> = [
        [null, "an HL7 structure needs a non-empty segments array"],
        [{ segments: [] }, "an HL7 structure needs a non-empty segments array"],
        [{ segments: ["MSH"] }, "segments[0] must be an array starting with the segment ID"],
        [{ segments: [[1]] }, "segments[0] must be an array starting with the segment ID"],
        [{ segments: [["MSHX"]] }, "segments[0][0] is not a segment ID"],
        [{ segments: [["PID", ["1"]]] }, "the first segment must be MSH"],
        [
          {
            segments: [
              ["MSH", ["|"], ["^~\\&"]],
              ["PID", "1"],
            ],
          },
          "segments[1][1] (PID-1) must be an array of repetitions (strings, or arrays of components)",
        ],
        [
          {
            segments: [
              ["MSH", ["|"], ["^~\\&"]],
              ["PID", [["a", [1]]]],
            ],
          },
          "segments[1][1] (PID-1) must be an array of repetitions (strings, or arrays of components)",
        ],
        [
          {
            segments: [
              ["MSH", ["|"], ["^~\\&"]],
              ["PID", [["a", 1]]],
            ],
          },
          "segments[1][1] (PID-1) must be an array of repetitions (strings, or arrays of components)",
        ],
        [{ segments: [["MSH", ["|"], ["^~\\&"]], ["PID"], ["MSH"]] }, "segments[2] is a second MSH"],
      ];
      for (const [json, message] of cases) {
        const e = bad(json);
        expect(e.code, message).to.equal("HL7_BAD_INPUT");
        expect(e.message).to.equal(message);
      }
      expect(bad(42).message).to.equal("an HL7 structure needs a non-empty segments array");
      const notHl7 = failure(() => asParsedHl7(42)) as unknown as Error;
      expect(notHl7.message).to.equal(
        "expected HL7 text (string or Buffer) or an HL7 structure ({ segments: [...] })",
      );
      expect((failure(() => parseHeader(42 as unknown as string)) as unknown as Error).message).to.equal(
        "HL7 text must be a string or a Buffer",
      );
      expect((failure(() => parseHl7(42 as unknown as string)) as unknown as Error).message).to.equal(
        "HL7 text must be a string or a Buffer",
      );
    });

    it("an absent (null or undefined) field is an empty one; missing MSH-1/MSH-2 are the default delimiters", () => {
      const json = {
        segments: [
          [
            "MSH",
            null,
            undefined,
            ["A"],
            [""],
            [""],
            [""],
            [""],
            [""],
            [["ADT", "A01"]],
            ["1"],
            ["P"],
            ["2.5"],
          ],
          ["PID", ["1"], null, [["X", ["a", "b"]]]],
        ],
      };
      const m = fromHl7Json(json);
      expect(m.text).to.equal("MSH|^~\\&|A||||||ADT^A01|1|P|2.5\rPID|1||X^a&b\r");
      expect(m.delimiters).to.deep.equal({
        field: "|",
        component: "^",
        repetition: "~",
        escape: "\\",
        subcomponent: "&",
      });
      expect(m.toJSON().segments[1]).to.deep.equal(["PID", ["1"], [""], [["X", ["a", "b"]]]]);
    });

    it("validate checks a structure too", () => {
      const json = parseHl7(`${MSH}\rEVN|A01\rPID|1||X||Doe||notadate|M\r`).toJSON();
      expect(asParsedHl7(json).get("PID", 7)).to.equal("notadate");
      expect(failure(() => asParsedHl7(json, { validate: true })).details).to.include({
        segment: "PID",
        field: 7,
        hl7ErrorCode: 102,
        reason: "a value does not match its data type",
      });
    });
  });

  describe("the parsed message", () => {
    const TEXT = `${MSH}\rNTE|1||first\rPID|1||X^^^H&1.2&ISO\rNTE|2||second\r`;

    it("select and segment(name, nth) find segments by ID in order", () => {
      const m = parseHl7(TEXT);
      expect(m.select("NTE").map((s) => s.get(3))).to.deep.equal(["first", "second"]);
      expect(m.segment("NTE")!.get(3)).to.equal("first");
      expect(m.segment("NTE", 1)!.get(3)).to.equal("second");
      expect(m.segment("NTE", 2)).to.equal(undefined);
      expect(m.segments.map((s) => s.position)).to.deep.equal([1, 2, 3, 4]);
      expect(String(m)).to.equal(TEXT);
    });

    it("toJSON is a deep copy: editing it changes neither the message nor the next copy", () => {
      const m = parseHl7(TEXT);
      const before = m.toJSON();
      const j = m.toJSON();
      ((j.segments[2][3][0] as string[][])[3] as string[])[0] = "CHANGED";
      (j.segments[2][3][0] as string[])[0] = "CHANGED";
      j.segments[1][3][0] = "CHANGED";
      expect(m.toJSON()).to.deep.equal(before);
      expect(m.get("PID", 3, 4, 1)).to.equal("H");
      expect(m.get("NTE", 3)).to.equal("first");
    });

    it("asParsedHl7 takes a parsed message as it is, and names what it accepts otherwise", () => {
      const m = parseHl7(TEXT);
      expect(asParsedHl7(m)).to.equal(m);
      expect(serializeHl7(m)).to.equal(TEXT);
      expect(serializeHl7(Buffer.from(TEXT))).to.equal(TEXT);
      for (const bad of [null, undefined, { segments: "x" }, [], true]) {
        expect((failure(() => asParsedHl7(bad)) as unknown as Error).message, String(bad)).to.equal(
          "expected HL7 text (string or Buffer) or an HL7 structure ({ segments: [...] })",
        );
      }
    });

    it("validate checks a text the first time it is parsed", () => {
      const text = `${MSH}\rEVN|A01\rPID|1||FIRST-${Date.now()}||Doe||notadate|M\r`;
      expect(failure(() => parseHl7(text, { validate: true })).details).to.include({
        segment: "PID",
        field: 7,
      });
    });

    it("a structure: segment positions from 1, the event from EVN-1 when MSH-9.2 is empty", () => {
      const m = fromHl7Json({
        segments: [
          ["MSH", ["|"], ["^~\\&"], ["A"], ["B"], ["C"], ["D"], ["1"], [""], ["ADT"], ["9"], ["P"], ["2.5"]],
          ["EVN", ["A08"]],
          ["PID", ["1"]],
        ],
      });
      expect(m.segments.map((s) => s.position)).to.deep.equal([1, 2, 3]);
      expect(m.header.event).to.equal("A08");
    });

    it("a structure with MSH-1 but no MSH-2 (or the other way round) gets the default delimiters", () => {
      const rest = [["A"], [""], [""], [""], [""], [""], [["ADT", "A01"]], ["1"], ["P"], ["2.5"]];
      for (const [f1, f2] of [
        [["#"], null],
        [null, ["*~\\&"]],
      ]) {
        const m = fromHl7Json({ segments: [["MSH", f1, f2, ...rest]] });
        expect(m.text).to.equal("MSH|^~\\&|A||||||ADT^A01|1|P|2.5\r");
      }
    });
  });

  describe("MSH fields of a header that does not parse (mshFieldsOf)", () => {
    it("finds an MSH within the first 8 characters, up to the end of its line", () => {
      expect(mshFieldsOf("\u000b\uFEFF\r\nMSH|^~\\&|A|B||||||CTL\rPID|1|2\r")).to.deep.equal({
        delimiters: { field: "|", component: "^", repetition: "~", escape: "\\", subcomponent: "&" },
        msh: ["MSH", "|", "^~\\&", "A", "B", "", "", "", "", "", "CTL"],
      });
      expect(mshFieldsOf("MSH#^~\\&#A#B\nPID#1")!.msh).to.deep.equal(["MSH", "#", "^~\\&", "A", "B"]);
      expect(mshFieldsOf("        MSH|^~\\&|A")!.msh).to.deep.equal(["MSH", "|", "^~\\&", "A"]);
      expect(mshFieldsOf("         MSH|^~\\&|A")).to.equal(undefined);
      expect(mshFieldsOf("PID|^~\\&|A")).to.equal(undefined);
      expect(mshFieldsOf("MSH|^^\\&|A")).to.equal(undefined);
    });

    it("reads no more than `count` fields", () => {
      expect(mshFieldsOf("MSH|^~\\&|A|B|C|D|E", 4)!.msh).to.deep.equal(["MSH", "|", "^~\\&", "A", "B"]);
    });
  });

  describe("validate: where hl7v2 found a bad value", () => {
    it("segment, field, component, subcomponent and the 1-based repetition", () => {
      const e = failure(() =>
        parseHl7(`${MSH}\rEVN|A01\rPID|1||X||Doe||19800101~notadate|M\r`, { validate: true }),
      );
      expect(e.details).to.deep.equal({
        segment: "PID",
        position: 3,
        field: 7,
        component: 1,
        subcomponent: 1,
        repetition: 2,
        hl7ErrorCode: 102,
        reason: "a value does not match its data type",
      });
      expect((e as unknown as Error).message).to.equal(
        "HL7 parse error at segment 3 (PID), field PID-7: a value does not match its data type",
      );
    });
  });
});

describe("lib/hl7 message: rules at the edges", () => {
  const HEAD = "MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5||||||";
  const latin1 = (text: string) => Buffer.from(text, "latin1");
  const details = (fn: () => unknown) => failure(fn).details;

  describe("decoding bytes: what is and is not a byte order mark or a character set", () => {
    // U+FEFB is EF BB BB, U+FEBF is EF BA BF, U+0EFF is E0 BB BF, "A¿" is 41 C2 BF: each shares
    // bytes with the UTF-8 byte order mark (EF BB BF) and is none
    const LOOKALIKES = ["\uFEFB", "\uFEBF", "\u0EFF", "A\u00BF"];

    it("drops only a whole UTF-8 byte order mark, at the start or after the MLLP start byte", () => {
      for (const head of LOOKALIKES) {
        const text = `${head}MSH|^~\\&|A\rPID|1\r`;
        expect(decodeHl7(Buffer.from(text)), head).to.equal(text);
        expect(decodeHl7(Buffer.from(`\x0b${text}`)), `VT ${head}`).to.equal(text);
      }
    });

    it("a header read refuses text that starts with bytes like a byte order mark", () => {
      for (const head of LOOKALIKES) {
        const e = failure(() => parseHeader(Buffer.from(`${head}MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5\r`)));
        expect(e.code, head).to.equal("HL7_PARSE");
        expect(e.details, head).to.include({
          position: 1,
          hl7ErrorCode: 100,
          reason: "a message must start with an MSH segment",
        });
      }
    });

    it("a header of three bytes, or shorter than its delimiters, is read as UTF-8", () => {
      expect(decodeHl7(Buffer.from("MSH"))).to.equal("MSH");
      expect(decodeHl7(Buffer.from("MSH|^~\rNTE|Zoë\r"))).to.equal("MSH|^~\rNTE|Zoë\r");
    });

    it("MSH-18 is read from the header line only, whatever the next lines hold", () => {
      // the header has 12 fields; the 17th field separator is in the PID line, before "8859/1"
      const pid = "PID|1|2|3|4|5|8859/1|M\xfcller\r";
      const crText = `MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5\r${pid}`;
      expect(decodeHl7(latin1(crText))).to.equal(crText.replace("\xfc", "\uFFFD"));
      // an LF-ended header with a CR further on: the header ends at the LF
      const lfText = `MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5\n${pid}`;
      expect(decodeHl7(latin1(lfText))).to.equal(lfText.replace("\xfc", "\uFFFD"));
      // a header with a single field and nothing but text after it has no MSH-18 either
      expect(decodeHl7(latin1("MSH|^~\\&|8859/1\rM\xfcller\r"))).to.equal("MSH|^~\\&|8859/1\rM\uFFFDller\r");
    });

    it("MSH-18 stops at the next field separator (MSH-19 is not part of it)", () => {
      expect(decodeHl7(latin1(`${HEAD}8859/1|ENG\rNTE|M\xfcller\r`))).to.equal(
        `${HEAD}8859/1|ENG\rNTE|Müller\r`,
      );
    });

    it("a message of one line without a line end names its character set too", () => {
      expect(decodeHl7(latin1(`${HEAD}8859/1|M\xfcller`))).to.equal(`${HEAD}8859/1|Müller`);
    });

    it("the character set name is matched in upper case: Big-5 is BIG-5", () => {
      // 0xA4 0xA4 is U+4E2D in Big5
      const bytes = Buffer.concat([latin1(`${HEAD}Big-5\rNTE|`), Buffer.from([0xa4, 0xa4]), latin1("\r")]);
      expect(decodeHl7(bytes)).to.equal(`${HEAD}Big-5\rNTE|\u4E2D\r`);
    });
  });

  describe("delimiters (delimitersOf): exact reasons", () => {
    it("names MSH-1 when the fourth character cannot separate fields", () => {
      expect(details(() => delimitersOf("MSHA^~\\&A"))).to.deep.equal({
        segment: "MSH",
        position: 1,
        field: 1,
        hl7ErrorCode: 102,
        reason: "MSH-1 is not a usable field separator",
      });
    });

    it("MSH-2 of fewer than 4 or more than 5 characters, or empty, is refused for its length", () => {
      for (const line of ["MSH|^~\\|A", "MSH|^~\\&#!|A", "MSH||^~\\&"]) {
        const e = failure(() => delimitersOf(line));
        expect(e.details, line).to.deep.equal({
          segment: "MSH",
          position: 1,
          field: 2,
          hl7ErrorCode: 102,
          reason: "MSH-2 must hold 4 or 5 encoding characters",
        });
        expect((e as unknown as Error).message, line).to.equal(
          "HL7 parse error at segment 1 (MSH), field MSH-2: MSH-2 must hold 4 or 5 encoding characters",
        );
      }
    });

    it("MSH-2 of 4 characters up to the next field separator, or of 5 with the truncation character", () => {
      expect(delimitersOf("MSH#*!%$#A")).to.deep.equal({
        field: "#",
        component: "*",
        repetition: "!",
        escape: "%",
        subcomponent: "$",
      });
      expect(delimitersOf("MSH|^~\\&#|A")).to.deep.include({ subcomponent: "&", truncation: "#" });
    });
  });

  describe("the read view: counts and MSH-1/MSH-2", () => {
    it("fieldCount of segments read from text: MSH counts MSH-1, trailing empty fields count", () => {
      const m = parseHl7(`${MSH}\rPID|1||3|\rNTE\r`);
      expect(m.segments.map((s) => s.fieldCount)).to.deep.equal([12, 4, 0]);
      expect(new Hl7Segment("MSH|^~\\&", 1, DEFAULT_DELIMITERS).fieldCount).to.equal(2);
    });

    it("MSH-1 is the field separator and MSH-2 the encoding characters; field 0 is empty", () => {
      const m = parseHl7(`MSH#^~\\&#A#B#C#D#1##ADT^A01#1#P#2.5\r`);
      const msh = m.segment("MSH")!;
      expect([msh.get(0), msh.get(1), msh.get(2), msh.get(3)]).to.deep.equal(["", "#", "^~\\&", "A"]);
      expect(msh.text(1)).to.equal("#");
    });

    it("an MSH line with nothing after its ID has an empty MSH-2", () => {
      expect(new Hl7Segment("MSH", 1, DEFAULT_DELIMITERS).field(2)).to.deep.equal([""]);
      expect(parseSegmentLine("MSH", DEFAULT_DELIMITERS, 1)).to.deep.equal(["MSH", ["|"], [""]]);
    });

    it("reps counts every repetition once one of them has a value", () => {
      const pid = parseHl7(`${MSH}\rPID|1||~X|^~&\r`).segment("PID")!;
      expect(pid.reps(3)).to.equal(2);
      expect(pid.reps(4)).to.equal(0);
    });

    it("text(n) of a segment other than MSH is field n as written, escapes kept", () => {
      const pid = parseHl7(`${MSH}\rPID|a\\F\\b|c\\S\\d\r`).segment("PID")!;
      expect([pid.text(1), pid.text(2)]).to.deep.equal(["a\\F\\b", "c\\S\\d"]);
      expect([pid.get(1), pid.get(2)]).to.deep.equal(["a|b", "c^d"]);
    });

    it("escapes inside subcomponents are unescaped", () => {
      const pid = parseHl7(`${MSH}\rPID|1|a&b\\F\\c^d\r`).segment("PID")!;
      expect(pid.field(2)).to.deep.equal([[["a", "b|c"], "d"]]);
      expect(pid.get(2, 1, 2)).to.equal("b|c");
    });
  });

  describe("header values: the first repetition, component and subcomponent", () => {
    const header = (msh9: string, msh10 = "1", msh3 = "A") =>
      `MSH|^~\\&|${msh3}|B|C|D|20240101||${msh9}|${msh10}|P|2.5\r`;

    it("an MSH-9 that starts with its component separator has an empty message type", () => {
      expect(details(() => parseHeader(header("^A01")))).to.deep.equal({
        segment: "MSH",
        position: 1,
        field: 9,
        hl7ErrorCode: 101,
        reason: "MSH-9 (message type) is empty",
      });
    });

    it("an MSH-10 whose first repetition or subcomponent is empty is an empty control ID", () => {
      for (const msh10 of ["~X", "&X"]) {
        expect(
          details(() => parseHeader(header("ADT^A01", msh10))),
          msh10,
        ).to.deep.equal({
          segment: "MSH",
          position: 1,
          field: 10,
          hl7ErrorCode: 101,
          reason: "MSH-10 (message control ID) is empty",
        });
      }
    });

    it("MSH-3 (HD) is its first repetition's components joined by ^, empty ones at the end dropped", () => {
      const app = (msh3: string) => parseHeader(header("ADT^A01", "1", msh3)).sendingApplication;
      expect(app("APP^1.2^ISO~B^C^D")).to.equal("APP^1.2^ISO");
      expect(app("~B^C")).to.equal("");
      expect(app("^^")).to.equal("");
      expect(app("APP^^")).to.equal("APP");
      expect(app("^1.2")).to.equal("^1.2");
    });

    it("EVN-1 after an empty line in a text with LF segment ends", () => {
      expect(parseHeader("MSH|^~\\&|A|B|C|D|1||ADT|1|P|2.3\n\nEVN|A03\n").event).to.equal("A03");
    });

    it("a blank line of spaces or tabs before MSH is skipped in a Buffer as in a text", () => {
      const text = " \t\r\n\r \nMSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.3\r";
      expect(parseHeader(text).type).to.equal("ADT");
      expect(parseHeader(Buffer.from(text)).type).to.equal("ADT");
      expect(parseHl7(Buffer.from(text)).header.type).to.equal("ADT");
      const indented = "  MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.3\r";
      for (const input of [indented, Buffer.from(indented)]) {
        expect(failure(() => parseHeader(input)).details).to.include({
          reason: "a message must start with an MSH segment",
        });
      }
    });

    it("EVN-1 among the 8 segments after MSH, in a Buffer with CR LF segment ends as in a text", () => {
      const lines = [
        "MSH|^~\\&|A|B|C|D|1||ADT|1|P|2.3",
        "SFT|1",
        "SFT|2",
        "SFT|3",
        "SFT|4",
        "SFT|5",
        "SFT|6",
      ];
      const text = [...lines, "SFT|7", "EVN|A03", ""].join("\r\n");
      expect(parseHeader(text).event).to.equal("A03");
      expect(parseHeader(Buffer.from(text)).event).to.equal("A03");
      const tooFar = [...lines, "SFT|7", "SFT|8", "EVN|A03", ""].join("\r\n");
      expect(parseHeader(Buffer.from(tooFar)).event).to.equal("");
    });

    it("EVN-1 of a Buffer is found past the first bytes a header may take, whatever the line ends", () => {
      // maxSegmentLength 40: a Buffer's line is read at most 121 bytes at a time
      const nte = "NTE|1|" + "x".repeat(30);
      for (const [name, end, blank] of [
        ["CR", "\r", ""],
        ["LF", "\n", ""],
        ["CR LF", "\r\n", ""],
        ["CR, a blank line", "\r", "\r"],
      ]) {
        const text = ["MSH|^~\\&|A|B|C|D|1||ADT|1|P|2.3", blank, nte, nte, nte, nte, "EVN|A03", ""]
          .filter((l, i) => i === 7 || l !== "" || blank !== "")
          .join(end);
        const h = parseHeader(Buffer.from(text), { limits: { maxSegmentLength: 40 } });
        expect(h.event, name).to.equal("A03");
      }
    });
  });

  describe("parsing: framing, batch headers and empty text", () => {
    it("a message of blanks only is empty, with or without limits", () => {
      for (const limits of [undefined, NO_HL7_LIMITS]) {
        expect(details(() => parseHl7("  \t ", { limits }))).to.deep.equal({
          segment: "",
          position: 0,
          hl7ErrorCode: 100,
          reason: "the message is empty",
        });
      }
    });

    it("a batch that starts with BHS (no FHS) is refused as a batch file", () => {
      for (const limits of [undefined, NO_HL7_LIMITS]) {
        expect(details(() => parseHl7(`BHS|^~\\&|A\r${MSH}\rBTS|1\r`, { limits }))).to.deep.equal({
          segment: "BHS",
          position: 1,
          hl7ErrorCode: 100,
          reason: "this is a batch file: split it into messages first",
        });
      }
    });

    it("an MLLP start byte after a line end is no framing: the message must start with MSH", () => {
      for (const limits of [undefined, NO_HL7_LIMITS]) {
        const e = failure(() => parseHl7(`\r\x0b${MSH}\r`, { limits }));
        expect(e.details).to.include({
          hl7ErrorCode: 100,
          reason: "a message must start with an MSH segment",
        });
      }
    });

    it("the earliest NUL or framing byte is the one reported, whichever kind comes first", () => {
      const e = failure(() => parseHl7(`${MSH}\rNTE|a\x0bb\rNTE|c\x00d\r`));
      expect(e.details).to.include({ segment: "NTE", position: 2, field: 1, hl7ErrorCode: 102 });
    });

    it("a NUL that starts a segment is a NUL inside it, not a bad segment ID", () => {
      const found = details(() => parseHl7(`${MSH}\r\x00PID|1\r`));
      expect(found.field).to.equal(undefined);
      expect(found).to.include({
        segment: "",
        position: 2,
        hl7ErrorCode: 102,
        reason: "a NUL or MLLP framing byte (0x0B, 0x1C) inside a segment",
      });
    });

    it("a NUL in a segment of fewer than four characters has no field, with or without limits", () => {
      for (const limits of [undefined, NO_HL7_LIMITS]) {
        const found = details(() => parseHl7(`${MSH}\rNT\x00\r`, { limits }));
        expect(found.field).to.equal(undefined);
        expect(found).to.include({
          segment: "",
          position: 2,
          hl7ErrorCode: 102,
          reason: "a NUL or MLLP framing byte (0x0B, 0x1C) inside a segment",
        });
      }
    });
  });

  describe("limits and the last parse kept", () => {
    const WIDE = `${MSH}\rPID${"|x".repeat(13)}\r`;

    it("one limit of Infinity does not lift the others", () => {
      const e = failure(() =>
        parseHl7(`${WIDE}NTE|${Date.now()}\r`, {
          limits: { maxSegments: Infinity, maxFieldsPerSegment: 12 },
        }),
      );
      expect(e.code).to.equal("HL7_LIMIT");
      expect(e.details).to.include({ segment: "PID", position: 2, limit: "maxFieldsPerSegment" });
    });

    it("a text parsed without limits is checked again when parsed with limits", () => {
      const text = `${WIDE}NTE|kept-${Date.now()}\r`;
      parseHl7(text, { limits: NO_HL7_LIMITS });
      const e = failure(() => parseHl7(text, { limits: { maxFieldsPerSegment: 12 } }));
      expect(e.code).to.equal("HL7_LIMIT");
    });

    it("keeps only the last text's parse", () => {
      const a = `${MSH}\rNTE|a-${Date.now()}\r`;
      const b = `${MSH}\rNTE|b-${Date.now()}\r`;
      const first = parseHl7(a);
      expect(parseHl7(a)).to.equal(first);
      parseHl7(b);
      expect(parseHl7(a)).to.not.equal(first);
    });

    it("a Buffer's parse is not kept: the same Buffer with new bytes parses anew, the last text stays kept", () => {
      const a = `${MSH}\rNTE|c-${Date.now()}\r`;
      const kept = parseHl7(a);
      const buf = Buffer.from(`${MSH}\rNTE|first\r`);
      expect(parseHl7(buf).get("NTE", 1)).to.equal("first");
      buf.write("secon", buf.length - 6, "latin1");
      expect(parseHl7(buf).get("NTE", 1)).to.equal("secon");
      expect(parseHl7(a)).to.equal(kept);
    });

    it("a text of up to 1 MiB is kept, a longer one is not", () => {
      const at = (size: number) => {
        const head = `${MSH}\rOBX|1|ED|${Date.now()}|`;
        return `${head}${"x".repeat(size - head.length - 1)}\r`;
      };
      const exact = at(1 << 20);
      expect(exact.length).to.equal(1 << 20);
      expect(parseHl7(exact)).to.equal(parseHl7(exact));
      const over = at((1 << 20) + 1);
      expect(parseHl7(over)).to.not.equal(parseHl7(over));
    });

    it("a kept parse is not validated unless validate is asked for", () => {
      const text = `${MSH}\rEVN|A01\rPID|1||KEPT-${Date.now()}||Doe||notadate|M\r`;
      const first = parseHl7(text);
      expect(parseHl7(text)).to.equal(first);
      expect(failure(() => parseHl7(text, { validate: true })).details).to.include({
        segment: "PID",
        field: 7,
      });
    });
  });

  describe("structures: shapes refused as HL7_BAD_INPUT", () => {
    const head = [
      "MSH",
      ["|"],
      ["^~\\&"],
      ["A"],
      [""],
      [""],
      [""],
      [""],
      [""],
      ["ADT"],
      ["1"],
      ["P"],
      ["2.5"],
    ];

    it("a repetition that is neither a string nor an array, or a component array with a non-string", () => {
      for (const field of [[5], [{}], [["a", ["b", 5]]]]) {
        const e = failure(() => fromHl7Json({ segments: [head, ["PID", ["1"], field]] }));
        expect(e.code, JSON.stringify(field)).to.equal("HL7_BAD_INPUT");
        expect((e as unknown as Error).message).to.equal(
          "segments[1][2] (PID-2) must be an array of repetitions (strings, or arrays of components)",
        );
      }
    });

    it("a function carrying a segments array is not a structure", () => {
      const fn = Object.assign(() => undefined, { segments: [head] });
      expect((failure(() => asParsedHl7(fn)) as unknown as Error).message).to.equal(
        "expected HL7 text (string or Buffer) or an HL7 structure ({ segments: [...] })",
      );
    });
  });
});
