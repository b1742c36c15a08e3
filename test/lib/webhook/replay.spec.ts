import { expect } from "chai";
import { SeenIds } from "../../../lib/webhook/replay";

describe("lib/webhook/replay SeenIds", () => {
  it("remembers keys until they expire", () => {
    const s = new SeenIds(10);
    s.add("a", 1000, 0);
    expect(s.has("a", 999)).to.equal(true);
    expect(s.has("a", 1000)).to.equal(false);
    expect(s.size).to.equal(0);
  });

  it("is bounded by count, dropping the oldest first", () => {
    const s = new SeenIds(3);
    for (const k of ["a", "b", "c", "d"]) s.add(k, 10_000, 0);
    expect(s.size).to.equal(3);
    expect(s.has("a", 1)).to.equal(false);
    expect(s.hasAny(["x", "d"], 1)).to.equal(true);
  });

  it("drops expired entries from the front when adding", () => {
    const s = new SeenIds(100);
    s.add("old", 10, 0);
    s.add("new", 1000, 5);
    s.add("newer", 1000, 20);
    expect(s.size).to.equal(2);
  });

  it("never stores an already expired entry, and keeps the later expiry of a re-added key", () => {
    const s = new SeenIds(10);
    s.add("x", 5, 10);
    expect(s.size).to.equal(0);
    s.add("y", 100, 0);
    s.add("y", 50, 0);
    expect(s.has("y", 80)).to.equal(true);
  });

  it("snapshots and loads, ignoring junk and expired entries", () => {
    const a = new SeenIds(10);
    a.add("k1", 500, 0);
    a.add("k2", 900, 0);
    const saved = JSON.parse(JSON.stringify(a.snapshot(0)));
    const b = new SeenIds(10);
    b.load([...saved, ["bad"], "junk", [1, 2], ["k0", 1]], 100);
    expect(b.snapshot(100)).to.deep.equal([
      ["k1", 500],
      ["k2", 900],
    ]);
    b.load("not an array", 100);
    expect(b.size).to.equal(2);
  });

  it("refuses a nonsensical bound", () => {
    expect(() => new SeenIds(0)).to.throw(RangeError);
  });
});
