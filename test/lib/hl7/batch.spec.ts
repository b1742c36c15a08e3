import { expect } from "chai";
import { isBatch, parseHl7, splitBatch } from "../../../lib/hl7";
import { fixture } from "./fixtures";

function failure(fn: () => unknown): { code: string; details: Record<string, unknown> } {
  try {
    fn();
  } catch (err) {
    return err as { code: string; details: Record<string, unknown> };
  }
  throw new Error("expected an error");
}

const M = (id: string): string => `MSH|^~\\&|A|B|C|D|1||ADT^A08|${id}|P|2.5.1\rPID|1||${id}\r`;

describe("lib/hl7 batch files", () => {
  it("splits FHS/BHS/BTS/FTS into its messages, in order", () => {
    const text = fixture("batch-v2.5.1.hl7");
    expect(isBatch(text)).to.equal(true);
    const b = splitBatch(text);
    expect(b.fileHeader).to.match(/^FHS\|/);
    expect(b.batchHeaders).to.have.length(2);
    expect(b.messages.map((m) => parseHl7(m).header.controlId)).to.deep.equal(["B1-1", "B1-2", "B2-1"]);
    expect(parseHl7(b.messages[1]).get("PID", 5)).to.equal("Beta");
  });

  it("splits plain concatenated messages (LF, blank lines between)", () => {
    const text = `${M("1")}\n\n${M("2")}`.replace(/\r/g, "\n");
    expect(isBatch(text)).to.equal(true);
    expect(isBatch(M("1"))).to.equal(false);
    expect(splitBatch(text).messages).to.deep.equal([M("1"), M("2")]);
  });

  it("rejects a batch whose BTS-1 count is wrong (a truncated batch)", () => {
    const e = failure(() => splitBatch(`BHS|^~\\&|A\r${M("1")}BTS|2\r`));
    expect(e.code).to.equal("HL7_PARSE");
    expect(e.details).to.include({ segment: "BTS", field: 1, position: 4 });
  });

  it("rejects a file whose FTS-1 count is wrong", () => {
    const e = failure(() => splitBatch(`FHS|^~\\&|A\rBHS|^~\\&|A\r${M("1")}BTS|1\rFTS|3\r`));
    expect(e.details).to.include({ segment: "FTS", field: 1 });
  });

  it("rejects segments outside any message, a misplaced FHS or FTS, bad counts and empty batches", () => {
    expect(failure(() => splitBatch(`BHS|^~\\&|A\rPID|1\r${M("1")}`)).details).to.include({
      segment: "PID",
      position: 2,
    });
    expect(failure(() => splitBatch(`${M("1")}FHS|^~\\&|A\r`)).details).to.include({ segment: "FHS" });
    expect(failure(() => splitBatch(`FHS|^~\\&|A\r${M("1")}FTS|1\r${M("2")}`)).details).to.include({
      segment: "FTS",
    });
    expect(failure(() => splitBatch(`BHS|^~\\&|A\r${M("1")}BTS|two\r`)).details).to.include({
      segment: "BTS",
      field: 1,
    });
    expect(failure(() => splitBatch("FHS|^~\\&|A\rFTS|0\r")).code).to.equal("HL7_PARSE");
  });
});
