import { expect } from "chai";
import { CODES } from "../../lib/error-codes";
import { PackError } from "../../lib/errors";
import { numberProp, propText } from "../../nodes/shared/props";

function failure(fn: () => unknown): PackError {
  try {
    fn();
  } catch (err) {
    return err as PackError;
  }
  throw new Error("no error thrown");
}

describe("nodes/shared/props: one parser for numeric node properties", () => {
  const port = { name: "port", code: CODES.MLLP_CONFIG, min: 0, max: 65535 };

  it("reads text trimmed and numbers as written; anything else is empty", () => {
    expect(propText("  42 ")).to.equal("42");
    expect(propText(7)).to.equal("7");
    expect(propText(undefined)).to.equal("");
    expect(propText(null)).to.equal("");
    expect(propText({})).to.equal("");
  });

  it("gives the default for an empty property, and the number for a good one", () => {
    expect(numberProp(undefined, 2575, port)).to.equal(2575);
    expect(numberProp("  ", 2575, port)).to.equal(2575);
    expect(numberProp("0", 2575, port)).to.equal(0);
    expect(numberProp(" 65535 ", 1, port)).to.equal(65535);
    expect(numberProp(8080, 1, port)).to.equal(8080);
    const hours = { name: "max age", code: CODES.QUEUE_CONFIG, min: 0.001, integer: false };
    expect(numberProp("1.5", 24, hours)).to.equal(1.5);
    expect(numberProp("0.001", 24, hours)).to.equal(0.001);
  });

  it("refuses what is not a plain number in range with the node's config code, naming property, range and value", () => {
    const bad: Array<[unknown, string]> = [
      ["abc", 'port must be an integer from 0 to 65535, got "abc"'],
      ["65536", 'port must be an integer from 0 to 65535, got "65536"'],
      ["-1", 'port must be an integer from 0 to 65535, got "-1"'],
      ["1.5", 'port must be an integer from 0 to 65535, got "1.5"'],
      ["1e3", 'port must be an integer from 0 to 65535, got "1e3"'],
      ["0x50", 'port must be an integer from 0 to 65535, got "0x50"'],
      ["80 80", 'port must be an integer from 0 to 65535, got "80 80"'],
      [Number.NaN, 'port must be an integer from 0 to 65535, got "NaN"'],
    ];
    for (const [value, message] of bad) {
      const err = failure(() => numberProp(value, 2575, port));
      expect(err, String(value)).to.be.instanceOf(PackError);
      expect(err.code).to.equal("MLLP_CONFIG");
      expect(err.message).to.equal(message);
      expect(err.details).to.deep.equal({ property: "port" });
    }
    const seconds = { name: "lease", code: CODES.QUEUE_CONFIG, min: 1, integer: false, unit: "seconds" };
    expect(failure(() => numberProp("0.5", 60, seconds)).message).to.equal(
      'lease must be a number of seconds >= 1, got "0.5"',
    );
    expect(failure(() => numberProp("1.", 60, seconds)).message).to.equal(
      'lease must be a number of seconds >= 1, got "1."',
    );
  });
});
