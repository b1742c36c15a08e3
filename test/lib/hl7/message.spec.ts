import { expect } from "chai";
import {
  buildAck,
  fromHl7Json,
  normalizeHl7,
  parseHeader,
  parseHl7,
  readAck,
  serializeHl7,
} from "../../../lib/hl7";

interface PackErrorLike {
  code: string;
  details: Record<string, unknown>;
}

const ADT =
  "MSH|^~\\&|ADT1|GOOD HEALTH HOSPITAL|FHIR-BRIDGE|HB|20240115083000+0100||ADT^A01^ADT_A01|MSG00001|P|2.5.1\r" +
  "EVN|A01|20240115083000+0100\r" +
  "PID|1||100234^^^GHH-MRN^MR~123-45-6789^^^SSA^SS||O\\S\\Neil^Mary||19610615|M|||12 Harbour Rd\\.br\\Unit 3^^Cork\r";

describe("lib/hl7 message: first look", () => {
  it("parses, reads unescaped values and serialises back to the same text", () => {
    const p = parseHl7(ADT);
    expect(p.header.type).to.equal("ADT");
    expect(p.get("PID", 5, 1)).to.equal("O^Neil");
    expect(p.get("PID", 11, 1)).to.equal("12 Harbour Rd\nUnit 3");
    expect(p.get("PID", 3, 1, 1, 1)).to.equal("123-45-6789");
    expect(p.segment("PID")?.reps(3)).to.equal(2);
    expect(serializeHl7(p.toJSON())).to.equal(ADT);
    expect(fromHl7Json(p.toJSON()).text).to.equal(ADT);
  });

  it("normalises BOM, LF and trailing blank lines", () => {
    expect(normalizeHl7(`\uFEFF${ADT.replace(/\r/g, "\n")}\n\n`)).to.equal(ADT);
    expect(parseHeader(Buffer.from(`\uFEFF${ADT.replace(/\r/g, "\r\n")}`)).controlId).to.equal("MSG00001");
  });

  it("builds an ACK that swaps the applications and echoes MSH-10", () => {
    const ack = readAck(buildAck(parseHeader(ADT), "AA"));
    expect(ack.code).to.equal("AA");
    expect(ack.controlId).to.equal("MSG00001");
    expect(ack.header.sendingApplication).to.equal("FHIR-BRIDGE");
    expect(ack.header.receivingApplication).to.equal("ADT1");
  });

  it("rejects a bad segment with HL7_PARSE and its position", () => {
    try {
      parseHl7(`${ADT}pv1|x\r`);
      expect.fail("no error");
    } catch (err) {
      const e = err as PackErrorLike;
      expect(e.code).to.equal("HL7_PARSE");
      expect(e.details).to.include({ position: 4 });
    }
  });
});
