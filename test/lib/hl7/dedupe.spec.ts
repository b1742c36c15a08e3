import { expect } from "chai";
import { createHash } from "node:crypto";
import {
  contentDigest,
  DedupeCache,
  dedupeKey,
  parseHeader,
  sharedEntry,
  type SharedEntry,
} from "../../../lib/hl7";

function msg(controlId: string, opts: { time?: string; name?: string; sep?: string } = {}): string {
  const f = opts.sep ?? "|";
  return (
    [
      `MSH${f}^~\\&${f}PMS${f}CLINIC${f}EHR${f}HB${f}${opts.time ?? "20240301091500"}${f}${f}ADT^A01${f}${controlId}${f}P${f}2.5.1`,
      `PID${f}1${f}${f}123^^^CLINIC^MR${f}${f}${opts.name ?? "Doe^Jane"}`,
    ].join("\r") + "\r"
  );
}

function ids(text: string): [string, string] {
  const h = parseHeader(text);
  return [dedupeKey(h), contentDigest(text, h)];
}

describe("lib/hl7 de-duplication", () => {
  it("keys on MSH-3, MSH-4 and MSH-10 and compares the content but MSH-7, as fixed-size digests", () => {
    const [k1, c1] = ids(msg("C-1"));
    const [k2, c2] = ids(msg("C-1", { time: "20240301091733" }));
    const [k3, c3] = ids(msg("C-1", { name: "Roe^Rita" }));
    const [k4] = ids(msg("C-2"));
    expect(k2).to.equal(k1);
    expect(c2).to.equal(c1); // a resend with a new MSH-7 is the same message
    expect(k3).to.equal(k1);
    expect(c3).to.not.equal(c1); // other content under the same control ID
    expect(k4).to.not.equal(k1);
    const [kl, cl] = ids(msg("L".repeat(2 * 1024 * 1024)));
    for (const d of [k1, c1, kl, cl]) expect(d).to.match(/^[A-Za-z0-9_-]{43}$/);
    // the delimiters the message declares are the ones MSH-7 is found by
    const [, d1] = ids(msg("C-1", { sep: "#" }));
    const [, d2] = ids(msg("C-1", { sep: "#", time: "20250101" }));
    expect(d2).to.equal(d1);
  });

  it("answers a repeat with the original's code, and processes other content under a known ID as new, flagged", () => {
    let now = 1000;
    const cache = new DedupeCache(60_000, () => now);
    const [key, a] = ids(msg("C-1"));
    const [, b] = ids(msg("C-1", { name: "Roe^Rita" }));
    expect(cache.check(key, a)).to.deep.equal({ state: "new", conflict: false });
    cache.settle(key, a, "AA");
    expect(cache.check(key, a)).to.deep.equal({ state: "done", code: "AA" });
    // pre-sent under a real sender's next ID: the real message is not a duplicate
    expect(cache.check(key, b)).to.deep.equal({ state: "new", conflict: true });
    cache.settle(key, b, "AA");
    // the accepted one of the two is the one remembered
    expect(cache.check(key, b)).to.deep.equal({ state: "done", code: "AA" });
    expect(cache.check(key, a)).to.deep.equal({ state: "new", conflict: true });
    cache.settle(key, a, "AE"); // not accepted: not remembered
    expect(cache.check(key, b)).to.deep.equal({ state: "done", code: "AA" });
    now += 60_000;
    expect(cache.check(key, b)).to.deep.equal({ state: "new", conflict: false });
  });

  it("makes a repeat of a pending message wait for it; other content with the same ID does not wait", async () => {
    const cache = new DedupeCache(60_000);
    const [key, a] = ids(msg("P-1"));
    const [, b] = ids(msg("P-1", { name: "Roe^Rita" }));
    expect(cache.check(key, a).state).to.equal("new");
    const repeat = cache.check(key, a);
    expect(repeat.state).to.equal("pending");
    expect(cache.check(key, b)).to.deep.equal({ state: "new", conflict: true });
    cache.settle(key, a, "CA");
    expect(await (repeat as { wait: Promise<string> }).wait).to.equal("CA");
    cache.settle(key, b, "AE");
    expect(cache.check(key, a)).to.deep.equal({ state: "done", code: "CA" });
  });

  it("holds at most maxEntries, each of the same size however long the control IDs", () => {
    const cache = new DedupeCache(60_000, Date.now, 3);
    for (let i = 0; i < 5; i++) {
      const [key, c] = ids(msg(`${i}`.repeat(100_000)));
      cache.check(key, c);
      cache.settle(key, c, "AA");
    }
    expect(cache.size).to.equal(3);
    const snap = cache.snapshot();
    expect(snap.version).to.equal(3);
    expect(JSON.stringify(snap).length).to.be.lessThan(400);
  });

  it("restores its snapshot, skipping expired and malformed entries, keeping the newest within maxEntries", () => {
    let now = 10_000;
    const a = new DedupeCache(60_000, () => now);
    const [k1, c1] = ids(msg("S-1"));
    const [k2, c2] = ids(msg("S-2"));
    a.check(k1, c1);
    a.settle(k1, c1, "AA");
    now += 1000;
    a.check(k2, c2);
    a.settle(k2, c2, "CA");
    const snap = a.snapshot();
    const b = new DedupeCache(60_000, () => now, 1);
    b.restore({
      ...snap,
      entries: [
        ...snap.entries,
        [k1.slice(1), c1, "AA", now + 5000],
        [k1, c1, "XX", now + 5000],
        [k1, c1, "AA", "later"],
        ["x", "y"],
        "junk",
      ],
    });
    expect(b.size).to.equal(1);
    expect(b.check(k2, c2)).to.deep.equal({ state: "done", code: "CA" });
    const c = new DedupeCache(60_000, () => now + 60_000);
    c.restore(snap);
    expect(c.size).to.equal(0);
    for (const bad of [undefined, null, 42, "text", { entries: "x" }]) new DedupeCache(1000).restore(bad);
  });

  it("migrates a version 1 snapshot: its entries answer repeats of their ID, whatever the content, until they expire", () => {
    const now = Date.now();
    const cache = new DedupeCache(60_000, () => now);
    cache.restore({
      entries: [
        ["PMS\u0000CLINIC\u0000OLD-1", "AA", now + 30_000],
        ["PMS\u0000CLINIC\u0000OLD-2", "AA", now - 1],
        ["no separators", "AA", now + 30_000],
      ],
    });
    expect(cache.size).to.equal(1);
    const [key, c] = ids(msg("OLD-1"));
    expect(cache.check(key, c)).to.deep.equal({ state: "done", code: "AA" });
    const [, other] = ids(msg("OLD-1", { name: "Roe^Rita" }));
    expect(cache.check(key, other)).to.deep.equal({ state: "done", code: "AA" });
    cache.settle(...ids(msg("NEW-1")), "AA");
    expect(cache.snapshot().entries.map((e) => e.length)).to.deep.equal([5, 5]);
  });

  it("keeps the ACKs sent with the entry, in order, and saves and restores them byte for byte", () => {
    const now = Date.now();
    const cache = new DedupeCache(60_000, () => now);
    const [key, c] = ids(msg("K-1"));
    const [, other] = ids(msg("K-1", { name: "Roe^Rita" }));
    const ca = "MSH|^~\\&|EHR|HB|PMS|CLINIC|20240301091501||ACK^A01^ACK|A1|P|2.5.1\rMSA|CA|K-1\r";
    const aa = "MSH|^~\\&|EHR|HB|PMS|CLINIC|20240301091502||ACK^A01^ACK|A2|P|2.5.1\rMSA|AA|K-1\r";
    cache.check(key, c);
    cache.settle(key, c, "CA", ca);
    expect(cache.check(key, c)).to.deep.equal({ state: "done", code: "CA", acks: [ca] });
    cache.addAck(key, other, aa); // other content: not this entry's
    cache.addAck(key, c, aa);
    cache.addAck(key, c, aa); // two at most: commit and application
    expect(cache.acksOf(key, c)).to.deep.equal([ca, aa]);
    expect(cache.acksOf(key, other)).to.deep.equal([]);
    const snap = cache.snapshot();
    expect(snap.entries[0][4]).to.deep.equal([ca, aa]);
    const restored = new DedupeCache(60_000, () => now);
    restored.restore(JSON.parse(JSON.stringify(snap)));
    expect(restored.check(key, c)).to.deep.equal({ state: "done", code: "CA", acks: [ca, aa] });
    // an entry whose ACKs are malformed is skipped whole; a version 2 entry (no ACKs) loads
    const [k2, c2] = ids(msg("K-2"));
    const [k3, c3] = ids(msg("K-3"));
    const bad = new DedupeCache(60_000, () => now);
    bad.restore({
      version: 3,
      entries: [
        [key, c, "CA", now + 1000, ["not an ACK"]],
        [key, c, "CA", now + 1000, "MSH|"],
        [key, c, "CA", now + 1000, [ca, aa, aa]],
        [key, c, "CA", now + 1000, [`MSH${"x".repeat(5000)}`]],
        [k2, c2, "AA", now + 1000],
        [k3, c3, "AA", now + 1000, []],
      ],
    });
    expect(bad.size).to.equal(2);
    expect(bad.check(key, c).state).to.equal("new");
    expect(bad.check(k2, c2)).to.deep.equal({ state: "done", code: "AA" });
    // an AE is not remembered, nor its ACK
    const [k4, c4] = ids(msg("K-4"));
    cache.check(k4, c4);
    cache.settle(k4, c4, "AE", ca);
    expect(cache.acksOf(k4, c4)).to.deep.equal([]);
  });

  describe("digests, exactly", () => {
    const sha = (text: string) => createHash("sha256").update(text).digest("base64url");

    it("the identity is SHA-256 (base64url) of MSH-3, MSH-4 and MSH-10 as written, NUL-separated", () => {
      const h = parseHeader(msg("C-1"));
      expect(dedupeKey(h)).to.equal(sha("PMS\u0000CLINIC\u0000C-1"));
      // the separator keeps the fields apart: AB + C is not A + BC
      const ab = parseHeader("MSH|^~\\&|AB|C|E|F|1||ADT^A01|X|P|2.5\r");
      const bc = parseHeader("MSH|^~\\&|A|BC|E|F|1||ADT^A01|X|P|2.5\r");
      expect(dedupeKey(ab)).to.not.equal(dedupeKey(bc));
      expect(dedupeKey({ ...h, msh: ["MSH", "|", "^~\\&"] })).to.equal(sha("\u0000\u0000"));
    });

    it("the content is SHA-256 of the text with MSH-7 emptied, whatever ends the MSH line", () => {
      for (const eol of ["\r", "\n", "\r\n"]) {
        const text = msg("C-1").replaceAll("\r", eol);
        const h = parseHeader(text);
        expect(contentDigest(text, h), JSON.stringify(eol)).to.equal(sha(text.replace("20240301091500", "")));
      }
      const framed = `\u000b${msg("C-1")}`;
      expect(contentDigest(framed, parseHeader(framed))).to.equal(sha(framed.replace("20240301091500", "")));
      const oneLine = "MSH|^~\\&|PMS|CLINIC|EHR|HB|20240301||ADT^A01|C-1|P|2.5";
      expect(contentDigest(oneLine, parseHeader(oneLine))).to.equal(sha(oneLine.replace("20240301", "")));
    });

    it("only the MSH line's MSH-7 is emptied, however the MSH line ends and whatever comes before it", () => {
      const h = parseHeader(msg("C-1"));
      // a short MSH line: the seventh field of the text as a whole is in the next segment
      for (const [eol, later] of [
        ["\n", ""],
        ["\n", "\r"],
        ["\r", ""],
      ]) {
        const text = (pid: string) => `MSH|^~\\&|A|B${eol}PID|1|2|${pid}|x${later}`;
        expect(contentDigest(text("3"), h), JSON.stringify(eol + later)).to.equal(sha(text("3")));
      }
      const before = "X\rMSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5\r";
      expect(contentDigest(before, h)).to.equal(sha(before.replace("20240101", "")));
      const last = "MSH|^~\\&|A|B|C|D|20240102";
      expect(contentDigest(last, h)).to.equal(sha("MSH|^~\\&|A|B|C|D|"));
      const none = "PID|1|x\rPV1|1\r";
      expect(contentDigest(none, h)).to.equal(sha(none));
    });

    it("an MSH without MSH-7, or text without an MSH, is digested as it is", () => {
      const short = "MSH|^~\\&|A|B|C|D\rPID|1\r";
      const h = parseHeader(msg("C-1"));
      expect(contentDigest(short, h)).to.equal(sha(short));
      expect(contentDigest("PID|1|x\r", h)).to.equal(sha("PID|1|x\r"));
    });
  });

  describe("shared with other instances", () => {
    it("tells each accepted entry, and each ACK added to it, with its expiry; not a refused one", () => {
      let now = 1000;
      const told: Array<[string, SharedEntry, number]> = [];
      const cache = new DedupeCache(60_000, () => now);
      cache.onAccepted = (key, entry, expires) => told.push([key, entry, expires]);
      const [k, c] = ids(msg("C-1"));
      const [k2, c2] = ids(msg("C-2"));
      cache.check(k2, c2);
      cache.settle(k2, c2, "AE", "MSH|ae");
      cache.check(k, c);
      cache.settle(k, c, "CA", "MSH|commit");
      now = 2000;
      cache.addAck(k, c, "MSH|app");
      expect(told).to.deep.equal([
        [k, { d: c, c: "CA", a: ["MSH|commit"] }, 61_000],
        [k, { d: c, c: "CA", a: ["MSH|commit", "MSH|app"] }, 61_000],
      ]);
      told[0][1].a.push("changed"); // what was told is a copy
      expect(cache.acksOf(k, c)).to.deep.equal(["MSH|commit", "MSH|app"]);
    });

    it("adopts an entry another instance accepted: its waiters get its code, repeats its ACKs, no entry told back", () => {
      const now = 5000;
      const told: string[] = [];
      const cache = new DedupeCache(60_000, () => now);
      cache.onAccepted = (key) => told.push(key);
      const [k, c] = ids(msg("C-1"));
      expect(cache.check(k, c)).to.deep.equal({ state: "new", conflict: false });
      const waiting = cache.check(k, c);
      if (waiting.state !== "pending") throw new Error("a repeat waits");
      cache.adopt(k, { d: c, c: "AA", a: ["MSH|elsewhere"] });
      expect(cache.check(k, c)).to.deep.equal({ state: "done", code: "AA", acks: ["MSH|elsewhere"] });
      expect(cache.size).to.equal(1);
      expect(told).to.deep.equal([]);
      const [, other] = ids(msg("C-1", { name: "Roe^Rita" }));
      expect(
        cache.check(k, other),
        "no longer pending: other content is a conflict by the entry",
      ).to.deep.equal({
        state: "new",
        conflict: true,
      });
      return waiting.wait.then((code) => expect(code).to.equal("AA"));
    });

    it("adopts an entry nothing here waits for: remembered, nothing pending", () => {
      const cache = new DedupeCache(60_000, () => 0);
      const [k, c] = ids(msg("C-3"));
      cache.adopt(k, { d: c, c: "CA", a: [] });
      expect(cache.check(k, c)).to.deep.equal({ state: "done", code: "CA" });
    });

    it("reads back only an entry this pack wrote: a digest, AA or CA, at most two ACKs starting MSH", () => {
      const d = ids(msg("C-1"))[1];
      expect(sharedEntry({ d, c: "AA", a: ["MSH|x"] })).to.deep.equal({ d, c: "AA", a: ["MSH|x"] });
      expect(sharedEntry({ d, c: "CA", a: [] })).to.deep.equal({ d, c: "CA", a: [] });
      for (const bad of [
        undefined,
        null,
        "text",
        { d: "short", c: "AA", a: [] },
        { d: 42, c: "AA", a: [] },
        { d: [d], c: "AA", a: [] },
        { d, c: "AE", a: [] },
        { d, c: "CR", a: [] },
        { d, a: [] },
        { d, c: "AA" },
        { d, c: "AA", a: ["ACK|x"] },
        { d, c: "AA", a: ["MSH|1", "MSH|2", "MSH|3"] },
        { d, c: "AA", a: [`MSH|${"x".repeat(4096)}`] },
      ])
        expect(sharedEntry(bad), JSON.stringify(bad)).to.equal(undefined);
    });
  });

  describe("the window", () => {
    const [key, a] = ids(msg("W-1"));
    const [, b] = ids(msg("W-1", { name: "Roe^Rita" }));
    const [, c] = ids(msg("W-1", { name: "Poe^Edgar" }));
    const ack = (n: number) => `MSH${"x".repeat(n - 3)}`;

    it("an entry answers until its window ends, and not at that instant", () => {
      let now = 1000;
      const cache = new DedupeCache(500, () => now);
      cache.check(key, a);
      cache.settle(key, a, "AA", ack(10));
      now = 1499;
      expect(cache.acksOf(key, a)).to.deep.equal([ack(10)]);
      expect(cache.snapshot().entries).to.deep.equal([[key, a, "AA", 1500, [ack(10)]]]);
      now = 1500;
      expect(cache.acksOf(key, a)).to.deep.equal([]);
      expect(cache.snapshot().entries).to.deep.equal([]);
      expect(cache.check(key, a)).to.deep.equal({ state: "new", conflict: false });
    });

    it("counts the contents pending under one identity: another stays a conflict until all are settled", () => {
      const cache = new DedupeCache(60_000);
      expect(cache.check(key, a)).to.deep.equal({ state: "new", conflict: false });
      expect(cache.check(key, b)).to.deep.equal({ state: "new", conflict: true });
      cache.settle(key, a, "AE");
      cache.settle(key, c, "AE"); // never pending: changes nothing
      expect(cache.check(key, c)).to.deep.equal({ state: "new", conflict: true });
      cache.settle(key, b, "AR");
      cache.settle(key, c, "AR");
      expect(cache.check(key, a)).to.deep.equal({ state: "new", conflict: false });
    });

    it("dirty: set by an accepted outcome and by an added ACK, cleared by a snapshot", () => {
      const cache = new DedupeCache(60_000);
      expect(cache.dirty).to.equal(false);
      cache.check(key, a);
      cache.settle(key, a, "AE");
      expect(cache.dirty).to.equal(false);
      cache.check(key, a);
      cache.settle(key, a, "CA");
      expect(cache.dirty).to.equal(true);
      cache.snapshot();
      expect(cache.dirty).to.equal(false);
      cache.addAck(key, a, ack(20));
      expect(cache.dirty).to.equal(true);
    });

    it("keeps ACKs of up to 4096 characters, two per entry, for the entry's own content", () => {
      const cache = new DedupeCache(60_000);
      cache.check(key, a);
      cache.settle(key, a, "CA", ack(4096));
      expect(cache.acksOf(key, a)).to.deep.equal([ack(4096)]);
      cache.addAck(key, a, ack(4097));
      cache.addAck(key, b, ack(30));
      cache.addAck(`${key}x`, a, ack(30));
      expect(cache.acksOf(key, a)).to.deep.equal([ack(4096)]);
      cache.addAck(key, a, ack(4096));
      cache.addAck(key, a, ack(40));
      expect(cache.acksOf(key, a)).to.deep.equal([ack(4096), ack(4096)]);
      cache.check(key, b);
      cache.settle(key, b, "AA", ack(4097));
      expect(cache.check(key, b)).to.deep.equal({ state: "done", code: "AA" });
    });

    it("restore: 3, 4 or 5 items an entry, each one checked; an entry at its expiry is not loaded", () => {
      const now = 5000;
      const cache = new DedupeCache(60_000, () => now);
      const later = now + 1000;
      cache.restore({
        entries: [
          [42, a, "AA", later],
          ["short", a, "AA", later],
          [key, 42, "AA", later],
          [key, "short", "AA", later],
          [key, a, 1, later],
          [key, a, "OK", later],
          [key, a, "AA", String(later)],
          [key, a, "AA", now],
          [key, a, "AA", later, [ack(4097)]],
          [key, a, "AA", later, ["PID|1"]],
          [key, a, "AA", later, [ack(10), ack(10), ack(10)]],
          ["PMS\u0000CLINIC\u0000W-1", "AA", later, 1, 2, 3],
          [1, "AA", later],
          ["PMS\u0000CLINIC\u0000W-1", 1, later],
          ["PMS\u0000CLINIC\u0000W-1", "OK", later],
          ["PMS\u0000CLINIC\u0000W-1", "AA", String(later)],
          ["PMS\u0000CLINIC\u0000W-1", "AA", now],
          { length: 4, 0: key, 1: a, 2: "AA", 3: later },
          { length: 3, 0: "PMS\u0000CLINIC\u0000W-1", 1: "AA", 2: later },
        ],
      });
      expect(cache.size).to.equal(0);
      cache.restore({ entries: [[key, a, "AA", later, [ack(4096)]]] });
      expect(cache.acksOf(key, a)).to.deep.equal([ack(4096)]);
    });

    it("restore keeps the newest within maxEntries whatever the snapshot's order, oldest first", () => {
      const [k1, c1] = ids(msg("R-1"));
      const [k2, c2] = ids(msg("R-2"));
      const [k3, c3] = ids(msg("R-3"));
      const cache = new DedupeCache(60_000, () => 0, 2);
      cache.restore({
        entries: [
          [k3, c3, "AA", 300, []],
          [k1, c1, "AA", 100, []],
          [k2, c2, "AA", 200, []],
        ],
      });
      expect(cache.snapshot().entries.map((e) => e[3])).to.deep.equal([200, 300]);
    });

    it("restore skips identities and contents that are not strings, and ACKs that are not", () => {
      const now = 5000;
      const cache = new DedupeCache(60_000, () => now);
      cache.restore({
        entries: [
          [[key], a, "AA", now + 1000, []],
          [key, [a], "AA", now + 1000, []],
          [key, a, "AA", now + 1000, [42]],
          ["PMS\u0000CLINIC\u0000W-1", "AA", "99999999999999"],
        ],
      });
      expect(cache.size).to.equal(0);
    });

    it("restore adds a snapshot's entries to those the cache holds", () => {
      const [k2, c2] = ids(msg("R-9"));
      const cache = new DedupeCache(60_000, () => 0);
      cache.check(key, a);
      cache.settle(key, a, "AA");
      cache.restore({ entries: [[k2, c2, "CA", 90_000, []]] });
      expect(cache.size).to.equal(2);
      expect(cache.snapshot().entries).to.deep.equal([
        [key, a, "AA", 60_000, []],
        [k2, c2, "CA", 90_000, []],
      ]);
    });

    it("restore does not replace what the cache holds already", () => {
      const cache = new DedupeCache(60_000, () => 0);
      cache.check(key, a);
      cache.settle(key, a, "AA", ack(10));
      cache.restore({ entries: [[key, b, "CA", 90_000, []]] });
      expect(cache.check(key, a)).to.deep.equal({ state: "done", code: "AA", acks: [ack(10)] });
    });
  });
});
