import { expect } from "chai";
import { parseHeader } from "../../../lib/hl7";

const MESSAGE = "MSH|^~\\&|LAB|NORTH|EHR|SOUTH|20240101120000||ADT^A01|MSG1|P|2.5\rEVN|A01|20240101120000\r";

describe("hl7 rules", () => {
  it("a header read of a Buffer skips start bytes, BOMs, line ends and blank lines before MSH in any order, as a read of the text does", () => {
    const leads = [
      "\x0b\r",
      "\x0b\n",
      "\x0b  \r\n",
      "\ufeff\r",
      "\ufeff  \n",
      "\x0b\ufeff\r\n",
      "\r\n\x0b\ufeff",
    ];
    for (const lead of leads) {
      const text = lead + MESSAGE;
      const fromText = parseHeader(text);
      const fromBuffer = parseHeader(Buffer.from(text));
      expect(fromBuffer, JSON.stringify(lead)).to.deep.equal(fromText);
      expect(fromBuffer.controlId, JSON.stringify(lead)).to.equal("MSG1");
    }
  });

  it("a header read of a Buffer does not count blank lines among the segments it looks at for EVN, as a read of the text does not", () => {
    // MSH-9 without a trigger: the event is EVN-1, found among the 8 segments after MSH.
    const segments = [
      "MSH|^~\\&|A|B|C|D|20240101||ADT|1|P|2.5",
      "",
      "  ",
      "PID|1",
      "PV1|1",
      "NK1|1",
      "AL1|1",
      "DG1|1",
      "OBX|1",
      "NTE|1",
      "EVN|A01|20240101",
    ];
    for (const eol of ["\r", "\n", "\r\n"]) {
      const text = segments.join(eol) + eol;
      const fromText = parseHeader(text);
      expect(fromText.event, JSON.stringify(eol)).to.equal("A01");
      expect(parseHeader(Buffer.from(text)), JSON.stringify(eol)).to.deep.equal(fromText);
    }
  });
});
