import { expect } from "chai";
import { numberField, numberRuleText, readNumber } from "../../lib/number-prop";

describe("lib/number-prop: one rule for numeric properties, node and editor", () => {
  it("reads plain whole numbers within the range, and nothing else, by default", () => {
    const port = { min: 0, max: 65535 };
    expect(readNumber("0", port)).to.equal(0);
    expect(readNumber("65535", port)).to.equal(65535);
    for (const bad of ["65536", "-1", "1.5", "1e3", "0x50", "+5", "80 80", ".5", "", "NaN", "Infinity"]) {
      expect(readNumber(bad, port), bad).to.equal(undefined);
    }
  });

  it("reads a decimal fraction when integer is false, still in plain form", () => {
    const hours = { min: 0.001, integer: false };
    expect(readNumber("1.5", hours)).to.equal(1.5);
    expect(readNumber("0.001", hours)).to.equal(0.001);
    for (const bad of ["0", "1.", ".5", "1e3", "-1"]) expect(readNumber(bad, hours), bad).to.equal(undefined);
  });

  it('reads whatever Number() reads as a finite number in form "any", still in range', () => {
    const rate = { min: 0, max: 1, integer: false, form: "any" } as const;
    expect(readNumber(".5", rate)).to.equal(0.5);
    expect(readNumber("1e-1", rate)).to.equal(0.1);
    for (const bad of ["1.5", "-0.1", "Infinity", "NaN", "half"])
      expect(readNumber(bad, rate), bad).to.equal(undefined);
    const count = { min: 1, max: 1e9, form: "any" } as const;
    expect(readNumber("1e3", count)).to.equal(1000);
    expect(readNumber("0x10", count)).to.equal(16);
    expect(readNumber("1.5", count)).to.equal(undefined);
  });

  it("validates an editor field: empty passes unless required, an env reference only when allowed", () => {
    const optional = numberField({ min: 1 });
    for (const good of ["", "  ", undefined, null, " 7 ", 7])
      expect(optional(good), String(good)).to.equal(true);
    for (const bad of ["0", "1.5", "${PORT}", "seven"]) expect(optional(bad), bad).to.equal(false);
    const port = numberField({ min: 1, max: 65535 }, { env: true, required: true });
    for (const good of ["2575", " ${MLLP_PORT} "]) expect(port(good), good).to.equal(true);
    for (const bad of ["", "0", "65536", "${1PORT}", "${A}x"]) expect(port(bad), bad).to.equal(false);
  });

  it("gives Node-RED 3 the reason for a bad value, with the property's label when the editor has one", () => {
    const port = numberField({ min: 1, max: 65535 }, { env: true, required: true });
    // Two parameters: Node-RED reads a validator of length 2 as one that may answer with a reason.
    expect(port.length).to.equal(2);
    expect(port("0", {})).to.equal("must be an integer from 1 to 65535 or ${ENV_VAR}");
    expect(port("", { label: "Port" })).to.equal("Port: required");
    expect(port("2575", {})).to.equal(true);
    const rate = numberField({ min: 0, max: 1, integer: false });
    expect(rate("1.5", { label: "Healthy rate" })).to.equal("Healthy rate: must be a number from 0 to 1");
    expect(numberField({ min: 1 })("0", {})).to.equal("must be an integer >= 1");
  });

  it("words a rule as the runtime's errors do", () => {
    expect(numberRuleText({ min: 1, max: 10 })).to.equal("an integer from 1 to 10");
    expect(numberRuleText({ min: 0, integer: false }, "hours")).to.equal("a number of hours >= 0");
  });
});
