import { expect } from "chai";
import {
  ACK_CODES,
  buildAck,
  type Hl7Header,
  hl7Timestamp,
  isAckCode,
  isPositiveAck,
  parseHeader,
  parseHl7,
  readAck,
  unknownHeader,
} from "../../../lib/hl7";
import { fixture } from "./fixtures";

function fields(ack: string, segment: string): string[] {
  const line = ack.split("\r").find((l) => l.startsWith(segment));
  if (!line) throw new Error(`no ${segment} in ${ack}`);
  return line.split(line[3] ?? "|");
}

describe("lib/hl7 ACK builder", () => {
  it("answers a v2.5.1 message field by field (AA)", () => {
    const original = parseHeader(fixture("adt-a01-v2.5.1.hl7"));
    const ack = buildAck(original, "AA", {
      controlId: "ACK-1",
      timestamp: new Date(Date.UTC(2024, 0, 15, 8, 0, 0)),
    });
    const segs = ack.split("\r");
    expect(segs).to.have.length(3);
    expect(segs[2]).to.equal("");
    const msh = fields(ack, "MSH");
    expect(msh[1]).to.equal("^~\\&"); // MSH-2
    expect(msh[2]).to.equal("EHR"); // MSH-3 = original MSH-5
    expect(msh[3]).to.equal("HB"); // MSH-4 = original MSH-6
    expect(msh[4]).to.equal("ADT1"); // MSH-5 = original MSH-3
    expect(msh[5]).to.equal("GOOD HEALTH HOSPITAL"); // MSH-6 = original MSH-4
    expect(msh[6]).to.match(/^\d{14}[+-]\d{4}$/); // MSH-7
    expect(msh[8]).to.equal("ACK^A01^ACK"); // MSH-9
    expect(msh[9]).to.equal("ACK-1"); // MSH-10
    expect(msh[10]).to.equal("P"); // MSH-11
    expect(msh[11]).to.equal("2.5.1"); // MSH-12
    expect(fields(ack, "MSA")).to.deep.equal(["MSA", "AA", "MSG00001"]);
    expect(ack).not.to.include("ERR");
  });

  it("echoes the original's processing id (MSH-11, with its mode), version and application/facility pairs", () => {
    // A sender's test (T) or debugging (D) feed must not get production (P) ACKs back.
    const text = fixture("adt-a01-v2.5.1.hl7").replace(
      /^MSH\|([^|]*)\|([^|]*)\|([^|]*)\|([^|]*)\|([^|]*)\|([^|]*)\|([^|]*)\|([^|]*)\|([^|]*)\|P\|2\.5\.1/,
      "MSH|$1|LAB^1.2.3^ISO|NORTH^4.5^ISO|CHART|SOUTH|$6|$7|$8|$9|T^A|2.4",
    );
    const ack = buildAck(parseHeader(text), "AA", { controlId: "ACK-T" });
    const msh = fields(ack, "MSH");
    expect(msh.slice(2, 6)).to.deep.equal(["CHART", "SOUTH", "LAB^1.2.3^ISO", "NORTH^4.5^ISO"]);
    expect(msh[10]).to.equal("T^A"); // MSH-11 as sent, mode included
    expect(msh[11]).to.equal("2.4"); // MSH-12
    for (const id of ["D", "T"]) {
      const other = buildAck(parseHeader(text.replace("|T^A|", `|${id}|`)), "AE", { text: "x" });
      expect(fields(other, "MSH")[10], id).to.equal(id);
    }
  });

  it("adds MSA-3 and a v2.5 ERR (location, 0357 code, severity, text) to an AE", () => {
    const original = parseHeader(fixture("adt-a01-v2.5.1.hl7"));
    const ack = buildAck(original, "AE", {
      text: "bad birth date",
      errorCode: 102,
      errorLocation: { segment: "PID", sequence: 1, field: 7 },
      applicationErrorCode: "HL7_PARSE",
    });
    expect(fields(ack, "MSA")).to.deep.equal(["MSA", "AE", "MSG00001", "bad birth date"]);
    const err = fields(ack, "ERR");
    expect(err[1]).to.equal(""); // ERR-1 (backward compatibility only)
    expect(err[2]).to.equal("PID^1^7^1"); // ERR-2 segment^sequence^field^repetition
    expect(err[3]).to.equal("102^Data type error^HL70357"); // ERR-3
    expect(err[4]).to.equal("E"); // ERR-4
    expect(err[5]).to.equal("HL7_PARSE"); // ERR-5
    expect(err[8]).to.equal("bad birth date"); // ERR-8
    const read = readAck(ack);
    expect(read.error).to.deep.include({
      code: "102",
      name: "Data type error",
      severity: "E",
      location: "PID-7",
    });
  });

  it("writes a v2.3 ACK without MSH-9.3 and ERR-1 as ELD", () => {
    const original = parseHeader(fixture("adt-a01-v2.3.hl7"));
    const ack = buildAck(original, "AR", { errorCode: 101, errorLocation: { segment: "MSH", field: 10 } });
    const msh = fields(ack, "MSH");
    expect(msh[2]).to.equal("IFENG");
    expect(msh[3]).to.equal("");
    expect(msh[4]).to.equal("REGADT");
    expect(msh[5]).to.equal("MCM");
    expect(msh[8]).to.equal("ACK^A01");
    expect(msh[11]).to.equal("2.3");
    expect(fields(ack, "MSA")).to.deep.equal(["MSA", "AR", "000001"]);
    expect(fields(ack, "ERR")).to.deep.equal(["ERR", "MSH^1^10^101&Required field missing&HL70357"]);
    expect(readAck(ack).error).to.deep.include({ code: "101", location: "MSH-10" });
  });

  it("answers a v2.8 message (truncation character) and copies HD components as written", () => {
    const original = parseHeader(fixture("siu-s12-v2.8-crlf.hl7"));
    const h: Hl7Header = {
      ...original,
      msh: original.msh.map((v, i) => (i === 3 ? "SCHED^1.2.3^ISO" : v)),
    };
    const ack = buildAck(h, "CA");
    const msh = fields(ack, "MSH");
    expect(msh[1]).to.equal("^~\\&#");
    expect(msh[4]).to.equal("SCHED^1.2.3^ISO");
    expect(msh[8]).to.equal("ACK^S12^ACK");
    expect(msh[11]).to.equal("2.8");
    expect(fields(ack, "MSA")).to.deep.equal(["MSA", "CA", "S12-7781"]);
    expect(readAck(ack).header.receivingApplication).to.equal("SCHED^1.2.3^ISO");
  });

  it("keeps the original's custom delimiters", () => {
    const original = parseHeader(fixture("custom-delimiters-v2.5.1.hl7"));
    const ack = buildAck(original, "AE", { text: "a$b" });
    expect(ack.startsWith("MSH$%*!@$EHR$HB$PMS$CLINIC$")).to.equal(true);
    expect(ack).to.include("MSA$AE$CD-1$a!F!b");
    expect(readAck(ack).text).to.equal("a$b");
    expect(parseHl7(ack).header.type).to.equal("ACK");
  });

  it("answers an unreadable message with defaults and an empty MSA-2", () => {
    const ack = buildAck(unknownHeader(), "AR", { errorCode: 100, text: "not HL7" });
    expect(fields(ack, "MSA")).to.deep.equal(["MSA", "AR", "", "not HL7"]);
    expect(fields(ack, "MSH")[8]).to.equal("ACK^^ACK");
  });

  it("gives each ACK a new control ID", () => {
    const original = parseHeader(fixture("adt-a01-v2.5.1.hl7"));
    const ids = new Set(Array.from({ length: 1000 }, () => readAck(buildAck(original, "AA")).ackControlId));
    expect(ids.size).to.equal(1000);
    for (const id of ids) expect(id.length).to.be.at.most(20);
  });

  it("rejects a code that is not an acknowledgment code", () => {
    expect(() => buildAck(unknownHeader(), "OK" as never))
      .to.throw()
      .with.property("code", "HL7_BAD_INPUT");
  });

  describe("exact ACK texts", () => {
    const WHEN = new Date(Date.UTC(2024, 0, 15, 8, 0, 0));
    const TS = hl7Timestamp(WHEN);
    const at = (version: string, event = "A01", extra = "") =>
      parseHeader(`MSH|^~\\&|SND|SF|RCV|RF|20240101||ADT^${event}|C-1|T|${version}${extra}\r`);

    it("AA and CA: MSH with the sending and receiving pairs swapped, MSA with MSA-2 = MSH-10, no ERR", () => {
      for (const code of ["AA", "CA"] as const) {
        expect(buildAck(at("2.5.1"), code, { controlId: "K1", timestamp: WHEN })).to.equal(
          `MSH|^~\\&|RCV|RF|SND|SF|${TS}||ACK^A01^ACK|K1|T|2.5.1\rMSA|${code}|C-1\r`,
        );
      }
    });

    it("AE, AR, CE and CR carry an ERR; 207 (application internal error) when no code is given", () => {
      for (const code of ["AE", "AR", "CE", "CR"] as const) {
        expect(buildAck(at("2.5.1"), code, { controlId: "K1", timestamp: WHEN })).to.equal(
          `MSH|^~\\&|RCV|RF|SND|SF|${TS}||ACK^A01^ACK|K1|T|2.5.1\rMSA|${code}|C-1\rERR|||207^Application internal error^HL70357|E\r`,
        );
      }
    });

    it("v2.5 ERR: ERR-2 location (sequence 1 and repetition 1 by default), ERR-3, ERR-4, ERR-5, ERR-8", () => {
      const ack = (errorLocation?: object, more: object = {}) =>
        buildAck(at("2.5"), "AE", {
          controlId: "K",
          timestamp: WHEN,
          errorCode: 101,
          errorLocation,
          ...more,
        } as never)
          .split("\r")
          .find((l) => l.startsWith("ERR"));
      expect(ack()).to.equal("ERR|||101^Required field missing^HL70357|E");
      expect(ack({ segment: "PID" })).to.equal("ERR||PID^1|101^Required field missing^HL70357|E");
      expect(ack({ segment: "PID", sequence: 2, field: 5 })).to.equal(
        "ERR||PID^2^5^1|101^Required field missing^HL70357|E",
      );
      expect(ack({ segment: "PID", field: 5, repetition: 3, component: 2, subcomponent: 1 })).to.equal(
        "ERR||PID^1^5^3^2^1|101^Required field missing^HL70357|E",
      );
      expect(
        ack({ segment: "PID", field: 5 }, { severity: "W", applicationErrorCode: "X^Y", text: "a|b" }),
      ).to.equal("ERR||PID^1^5^1|101^Required field missing^HL70357|W|X\\S\\Y|||a\\F\\b");
      expect(ack(undefined, { errorCode: 999 })).to.equal("ERR|||999^^HL70357|E");
    });

    it("before v2.5 the ERR is ERR-1 as ELD: segment^sequence^field^code&name&table", () => {
      const err = (version: string, errorLocation?: object, errorCode = 102) =>
        buildAck(at(version), "AE", { timestamp: WHEN, errorCode, errorLocation } as never)
          .split("\r")
          .find((l) => l.startsWith("ERR"));
      expect(err("2.4", { segment: "PID", field: 7 })).to.equal("ERR|PID^1^7^102&Data type error&HL70357");
      expect(err("2.4", { segment: "PID", sequence: 3 })).to.equal("ERR|PID^3^^102&Data type error&HL70357");
      expect(err("2.4")).to.equal("ERR|^^^102&Data type error&HL70357");
      expect(err("2.4.9", undefined, 999)).to.equal("ERR|^^^999&&HL70357");
      expect(err("2.5")).to.equal("ERR|||102^Data type error^HL70357|E");
      expect(err("3.0")).to.equal("ERR|||102^Data type error^HL70357|E");
      expect(err("2.10")).to.equal("ERR|||102^Data type error^HL70357|E");
      expect(err("1.9")).to.equal("ERR|^^^102&Data type error&HL70357");
    });

    it("MSH-9: ACK^event^ACK from v2.3.1 on, ACK^event before, ACK alone when the event is unknown", () => {
      const msh9 = (version: string, event: string) =>
        buildAck(at(version, event), "AA", { timestamp: WHEN }).split("|")[8];
      expect(msh9("2.3.1", "A01")).to.equal("ACK^A01^ACK");
      expect(msh9("2.4", "A01")).to.equal("ACK^A01^ACK");
      expect(msh9("3.0", "A01")).to.equal("ACK^A01^ACK");
      expect(msh9("2.3", "A01")).to.equal("ACK^A01");
      expect(msh9("2.2", "A01")).to.equal("ACK^A01");
      expect(msh9("2.3", "")).to.equal("ACK");
      expect(msh9("2.3.0", "A01")).to.equal("ACK^A01");
    });

    it("MSA-3 only with a text, escaped", () => {
      expect(buildAck(at("2.5.1"), "AA", { text: "ok|fine", timestamp: WHEN }).split("\r")[1]).to.equal(
        "MSA|AA|C-1|ok\\F\\fine",
      );
      expect(buildAck(at("2.5.1"), "AA", { text: "", timestamp: WHEN }).split("\r")[1]).to.equal(
        "MSA|AA|C-1",
      );
    });

    it("control characters in echoed fields are written as \\Xhh\\ (upper-case hex), so the ACK stays one message", () => {
      const h = at("2.5.1");
      const odd: Hl7Header = {
        ...h,
        msh: h.msh.map((v, i) => (i === 3 ? "S\x0bN\x1fD" : i === 10 ? "C\r1\x7f" : v)),
      };
      const ack = buildAck(odd, "AA", { controlId: "K", timestamp: WHEN });
      expect(ack).to.equal(
        `MSH|^~\\&|RCV|RF|S\\X0B\\N\\X1F\\D|SF|${TS}||ACK^A01^ACK|K|T|2.5.1\rMSA|AA|C\\X0D\\1\\X7F\\\r`,
      );
    });

    it("MSH-11 defaults to P and MSH-12 to the header's version when the original has none", () => {
      const h: Hl7Header = {
        ...at("2.4"),
        msh: ["MSH", "|", "^~\\&", "S", "F", "R", "G", "", "", "", "C-9"],
      };
      expect(buildAck(h, "AA", { controlId: "K", timestamp: WHEN })).to.equal(
        `MSH|^~\\&|R|G|S|F|${TS}||ACK^A01^ACK|K|P|2.4\rMSA|AA|C-9\r`,
      );
      const none: Hl7Header = { ...h, version: "" };
      expect(buildAck(none, "AA", { controlId: "K", timestamp: WHEN })).to.equal(
        `MSH|^~\\&|R|G|S|F|${TS}||ACK^A01^ACK|K|P|2.5.1\rMSA|AA|C-9\r`,
      );
    });

    it("an unreadable message's stand-in header: everything empty but processing id P and the version", () => {
      const h = unknownHeader();
      expect(h).to.deep.include({
        type: "",
        event: "",
        structure: "",
        controlId: "",
        version: "2.5.1",
        sendingApplication: "",
        sendingFacility: "",
        receivingApplication: "",
        receivingFacility: "",
        timestamp: "",
        processingId: "P",
        acceptAckType: "",
        applicationAckType: "",
        charset: "",
      });
      expect(h.msh).to.deep.equal(["MSH", "|", "^~\\&", "", "", "", "", "", "", "", "", "P", "2.5.1"]);
      expect(unknownHeader("2.3").msh[12]).to.equal("2.3");
      expect(buildAck(unknownHeader("2.3"), "AR", { controlId: "K", timestamp: WHEN })).to.equal(
        `MSH|^~\\&|||||${TS}||ACK|K|P|2.3\rMSA|AR|\rERR|^^^207&Application internal error&HL70357\r`,
      );
    });

    it("the error for a code that is no acknowledgment code names it", () => {
      expect(() => buildAck(unknownHeader(), "OK" as never)).to.throw("not an acknowledgment code: OK");
    });
  });

  describe("acknowledgment codes", () => {
    it("the six codes of HL7 table 0008", () => {
      expect(ACK_CODES).to.deep.equal(["AA", "AE", "AR", "CA", "CE", "CR"]);
      for (const c of ACK_CODES) expect(isAckCode(c), c).to.equal(true);
      for (const c of ["aa", "OK", "", 1, null, undefined]) expect(isAckCode(c), String(c)).to.equal(false);
    });

    it("positive: AA (application accept) and CA (commit accept) only", () => {
      expect(ACK_CODES.filter(isPositiveAck)).to.deep.equal(["AA", "CA"]);
      expect(isPositiveAck("")).to.equal(false);
    });
  });

  describe("reading an ACK", () => {
    it("HL7_PARSE when there is no MSA", () => {
      try {
        readAck("MSH|^~\\&|A|B|C|D|1||ACK|9|P|2.5\r");
        expect.fail("no error");
      } catch (err) {
        expect(err).to.have.property("code", "HL7_PARSE");
        expect((err as Error).message).to.equal("HL7 parse error: the reply has no MSA segment");
        expect(err).to.have.property("details").that.deep.equals({
          segment: "MSA",
          position: 0,
          hl7ErrorCode: 100,
          reason: "the reply has no MSA segment",
        });
      }
    });

    it("MSA-1..3, MSH-10 of the ACK, and no error without ERR", () => {
      const info = readAck("MSH|^~\\&|A|B|C|D|1||ACK|K-7|P|2.5\rMSA|AA|C-1|fine\r");
      expect(info).to.deep.include({ code: "AA", controlId: "C-1", text: "fine", ackControlId: "K-7" });
      expect(info).to.not.have.property("error");
    });

    it("a v2.5 ERR with only ERR-2, or only ERR-3, is read as v2.5", () => {
      const head = "MSH|^~\\&|A|B|C|D|1||ACK|K|P|2.5\rMSA|AE|C-1\r";
      expect(readAck(`${head}ERR||OBX^1^5|||||`).error).to.deep.equal({
        code: "",
        name: "",
        severity: "",
        location: "OBX-5",
        text: "",
      });
      expect(readAck(`${head}ERR|||204^Unknown key identifier^HL70357|W||||gone\r`).error).to.deep.equal({
        code: "204",
        name: "Unknown key identifier",
        severity: "W",
        location: "",
        text: "gone",
      });
      expect(readAck(`${head}ERR||PID^1|101\r`).error).to.deep.include({ location: "PID", code: "101" });
      expect(readAck(`${head}ERR|PID^1^7^102&Data type error&HL70357\r`).error).to.deep.equal({
        code: "102",
        name: "Data type error",
        severity: "",
        location: "PID-7",
        text: "",
      });
    });
  });
});
