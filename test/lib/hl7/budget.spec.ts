import { expect } from "chai";
import { DEFAULT_FRAME_BUDGET_BYTES, FrameBudget, sharedFrameBudget } from "../../../lib/hl7";

describe("lib/hl7 frame budget", () => {
  it("takes what fits, refuses what would go over and takes nothing then, gives back", () => {
    const b = new FrameBudget(100);
    expect(b.take(60)).to.equal(true);
    expect(b.take(41)).to.equal(false);
    expect(b.used).to.equal(60);
    expect(b.take(40)).to.equal(true);
    expect(b.used).to.equal(100);
    b.give(30);
    expect(b.take(30)).to.equal(true);
    b.give(500); // never below 0
    expect(b.used).to.equal(0);
    expect(b.take(0)).to.equal(true);
  });

  it("has no limit at 0; a new limit holds for what is taken next", () => {
    const b = new FrameBudget(0);
    expect(b.limit).to.equal(Number.POSITIVE_INFINITY);
    expect(b.take(10 ** 12)).to.equal(true);
    b.setLimit(10);
    expect(b.take(1)).to.equal(false);
    b.give(10 ** 12);
    expect(b.take(10)).to.equal(true);
  });

  it("is one per process, 64 MiB unless set", () => {
    expect(sharedFrameBudget()).to.equal(sharedFrameBudget());
    expect(DEFAULT_FRAME_BUDGET_BYTES).to.equal(64 * 1024 * 1024);
    expect(new FrameBudget().limit).to.equal(DEFAULT_FRAME_BUDGET_BYTES);
  });
});
