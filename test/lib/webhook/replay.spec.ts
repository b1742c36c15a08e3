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

describe("lib/webhook/replay SeenIds: edges", () => {
  it("does not store an entry that expires at the current instant, even behind a live one", () => {
    const s = new SeenIds(10);
    s.add("live", 100, 0);
    s.add("now", 10, 10);
    expect(s.size).to.equal(1);
    expect(s.snapshot(10)).to.deep.equal([["live", 100]]);
  });

  it("snapshots neither entries that expire at the instant nor stale copies of re-added keys", () => {
    const s = new SeenIds(10);
    s.add("a", 100, 0);
    s.add("b", 50, 0);
    s.add("a", 200, 0);
    expect(s.snapshot(50)).to.deep.equal([["a", 200]]);
    expect(s.snapshot(0)).to.deep.equal([
      ["b", 50],
      ["a", 200],
    ]);
  });

  it("loads a saved entry only when it expires later than the one it has", () => {
    const s = new SeenIds(10);
    s.add("k", 500, 0);
    s.add("other", 600, 0);
    s.load([["k", 400]], 0);
    s.load([["k", 500]], 0);
    expect(s.snapshot(0)).to.deep.equal([
      ["k", 500],
      ["other", 600],
    ]);
    s.load([["k", 700]], 0);
    expect(s.snapshot(0)).to.deep.equal([
      ["other", 600],
      ["k", 700],
    ]);
  });

  it("loads only [string, number] pairs", () => {
    const s = new SeenIds(10);
    s.load([[1, 900], ["s", "900"], { 0: "o", 1: 900 }, ["ok", 900]], 0);
    expect(s.snapshot(0)).to.deep.equal([["ok", 900]]);
    expect(s.size).to.equal(1);
  });

  it("evicts by count only the live entries, skipping superseded ones", () => {
    const s = new SeenIds(2);
    s.add("a", 100, 0);
    s.add("a", 200, 0);
    s.add("b", 100, 0);
    expect(s.size).to.equal(2);
    expect(s.has("a", 0)).to.equal(true);
    s.add("c", 100, 0);
    expect(s.has("a", 0)).to.equal(false);
    expect(s.snapshot(0)).to.deep.equal([
      ["b", 100],
      ["c", 100],
    ]);
  });

  it("forgets everything on clear and works as new afterwards", () => {
    const s = new SeenIds(3);
    for (const k of ["a", "b", "c", "d"]) s.add(k, 100, 0);
    s.clear();
    expect(s.size).to.equal(0);
    expect(s.has("d", 0)).to.equal(false);
    expect(s.snapshot(0)).to.deep.equal([]);
    s.add("e", 100, 0);
    expect(s.snapshot(0)).to.deep.equal([["e", 100]]);
  });

  it("keeps its age queue bounded however many keys pass through", () => {
    const s = new SeenIds(10);
    for (let i = 0; i < 20_000; i++) s.add(`k${i}`, 1_000_000, i);
    expect(s.size).to.equal(10);
    expect((s as unknown as { queue: unknown[] }).queue.length).to.be.at.most(2 * 1024 + 10);
    expect(s.snapshot(20_000).map(([k]) => k)).to.deep.equal(
      Array.from({ length: 10 }, (_, i) => `k${19_990 + i}`),
    );
  });

  it("never snapshots a superseded copy of a key that sits behind a live entry", () => {
    const s = new SeenIds(10);
    s.add("x", 300, 0);
    s.add("a", 100, 0);
    s.add("a", 200, 0);
    expect(s.snapshot(0)).to.deep.equal([
      ["x", 300],
      ["a", 200],
    ]);
  });

  it("an expired superseded copy at the front never evicts the key's current entry", () => {
    const s = new SeenIds(10);
    s.add("a", 10, 0);
    s.add("a", 200, 0);
    s.add("b", 300, 20);
    expect(s.has("a", 20)).to.equal(true);
  });

  it("evicts an entry that expires at the instant of an add", () => {
    const s = new SeenIds(10);
    s.add("a", 10, 0);
    s.add("b", 100, 10);
    expect(s.size).to.equal(1);
  });

  it("names the bound it refuses", () => {
    expect(() => new SeenIds(1.5)).to.throw(RangeError, "maxEntries must be a positive integer");
  });
});
