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
});
