import { expect } from "chai";
import { buildAck, type Hl7Header, parseHeader, parseHl7, readAck, unknownHeader } from "../../../lib/hl7";
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
});
