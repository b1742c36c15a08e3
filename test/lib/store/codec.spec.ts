import { expect } from "chai";
import { decodeMsg, deriveKey, encodeMsg, encodeText, newSalt, parseText } from "../../../lib/store/codec";

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

  it("reads a msg kept as its JSON text as the row written from that text reads back", () => {
    const msg = { payload: Buffer.from([0, 1, 2]), topic: "Zoë", webhook: { id: "evt-1" } };
    const text = JSON.stringify(msg);
    for (const k of [undefined, key]) {
      const row = decodeMsg(encodeText(text, k), k);
      expect(row).to.deep.equal(parseText(text));
      expect(row).to.deep.equal(decodeMsg(encodeMsg(msg, k), k));
    }
    expect(Buffer.isBuffer(parseText(text).payload)).to.equal(true);
  });
});
