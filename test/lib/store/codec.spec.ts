import { expect } from "chai";
import { decodeMsg, deriveKey, encodeMsg, newSalt } from "../../../lib/store/codec";

describe("lib/store codec", function () {
  const key = deriveKey("secret", newSalt());

  for (const [name, k] of [
    ["plain", undefined],
    ["sealed", key],
  ] as const) {
    it(`${name}: gives back Buffers as Buffers, and text that only names one as text`, () => {
      const msg = {
        payload: Buffer.from("MSH|^~\\&|"),
        topic: 'a "type":"Buffer" in a string',
        hl7: { raw: { type: "Buffer", data: [1, 2] }, controlId: "1" },
      };
      const back = decodeMsg(encodeMsg(msg, k), k);
      expect(Buffer.isBuffer(back.payload)).to.equal(true);
      expect((back.payload as Buffer).toString()).to.equal("MSH|^~\\&|");
      expect(back.topic).to.equal(msg.topic);
      expect(Buffer.isBuffer((back.hl7 as { raw: unknown }).raw)).to.equal(true);
      expect(decodeMsg(encodeMsg({ payload: { type: "Buffer" }, topic: msg.topic }, k), k)).to.deep.equal({
        payload: { type: "Buffer" },
        topic: msg.topic,
      });
    });
  }
});
