import { expect } from "chai";
import {
  compareCursors,
  compareMarks,
  formatInstant,
  highestMark,
  isAfter,
  parseCursor,
  parseDuration,
  parseInstant,
  resolveInitial,
} from "../../../lib/checkpoint";

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}

describe("checkpoint: instants, durations and marks", () => {
  it("parses ISO date-times with a zone to UTC, keeping sub-millisecond digits", () => {
    expect(formatInstant(parseInstant("2025-01-06T08:00:00Z", "t"))).to.equal("2025-01-06T08:00:00.000Z");
    expect(formatInstant(parseInstant("2025-01-06T03:00:00-05:00", "t"))).to.equal(
      "2025-01-06T08:00:00.000Z",
    );
    expect(formatInstant(parseInstant("2025-01-06T09:30+0130", "t"))).to.equal("2025-01-06T08:00:00.000Z");
    expect(formatInstant(parseInstant("2025-01-06T08:00:00.123456Z", "t"))).to.equal(
      "2025-01-06T08:00:00.123456Z",
    );
    expect(formatInstant(parseInstant("2025-01-06T08:00:00.1200Z", "t"))).to.equal(
      "2025-01-06T08:00:00.120Z",
    );
    expect(formatInstant(parseInstant(new Date(0), "t"))).to.equal("1970-01-01T00:00:00.000Z");
  });

  it("orders microseconds below the millisecond", () => {
    const a = { time: parseInstant("2025-01-06T08:00:00.123Z", "t"), cursor: null };
    const b = { time: parseInstant("2025-01-06T08:00:00.123001Z", "t"), cursor: null };
    expect(compareMarks(a, b)).to.equal(-1);
    expect(compareMarks(b, a)).to.equal(1);
    expect(compareMarks(a, { time: parseInstant("2025-01-06T08:00:00.1230Z", "t"), cursor: null })).to.equal(
      0,
    );
  });

  it("refuses a date-time without a zone, impossible dates and non-strings with CHECKPOINT_BAD_INPUT", () => {
    for (const bad of [
      "2025-01-06T08:00:00",
      "2025-02-30T08:00:00Z",
      "2025-01-06T24:00:00Z",
      "2025-01-06T08:00:00+25:00",
      "yesterday",
      "",
      42,
      null,
      {},
      new Date(NaN),
    ]) {
      expect(
        codeOf(() => parseInstant(bad, "highWater")),
        String(bad),
      ).to.equal("CHECKPOINT_BAD_INPUT");
    }
    expect(() => parseInstant("2025-01-06T08:00:00", "highWater")).to.throw(/time zone/);
    expect(codeOf(() => parseInstant("2025-01-06", "highWater"))).to.equal("CHECKPOINT_BAD_INPUT");
    expect(formatInstant(parseInstant("2024-02-29", "initial", true))).to.equal("2024-02-29T00:00:00.000Z");
  });

  it("parses durations and resolves initial against now", () => {
    expect(parseDuration("24h")).to.equal(86400000);
    expect(parseDuration("7d")).to.equal(7 * 86400000);
    expect(parseDuration("30m")).to.equal(1800000);
    expect(parseDuration("1d12h")).to.equal(36 * 3600000);
    expect(parseDuration("1.5h")).to.equal(5400000);
    expect(parseDuration("2w")).to.equal(14 * 86400000);
    expect(parseDuration("250ms")).to.equal(250);
    expect(parseDuration("h")).to.equal(null);
    expect(parseDuration("-1h")).to.equal(null);
    expect(parseDuration("2025-01-01")).to.equal(null);
    const now = Date.parse("2025-03-01T12:00:00Z");
    expect(formatInstant(resolveInitial("24h", now))).to.equal("2025-02-28T12:00:00.000Z");
    expect(formatInstant(resolveInitial("", now))).to.equal("1970-01-01T00:00:00.000Z");
    expect(formatInstant(resolveInitial(" 2025-01-01T00:00:00+01:00 ", now))).to.equal(
      "2024-12-31T23:00:00.000Z",
    );
    expect(codeOf(() => resolveInitial("last week", now))).to.equal("CHECKPOINT_BAD_INPUT");
  });

  it("compares cursors numerically when both are integers, else by code units; null first", () => {
    expect(compareCursors(9, 10)).to.equal(-1);
    expect(compareCursors("9", "10")).to.equal(-1);
    expect(compareCursors("9", 10)).to.equal(-1);
    expect(compareCursors("123456789012345678901234567890", "123456789012345678901234567891")).to.equal(-1);
    expect(compareCursors("pat-00009", "pat-00010")).to.equal(-1);
    expect(compareCursors("b", "a10")).to.equal(1);
    expect(compareCursors(null, "a")).to.equal(-1);
    expect(compareCursors("a", null)).to.equal(1);
    expect(compareCursors(null, null)).to.equal(0);
    expect(parseCursor("")).to.equal(null);
    expect(codeOf(() => parseCursor(1.5))).to.equal("CHECKPOINT_BAD_INPUT");
    expect(codeOf(() => parseCursor({ id: 1 }))).to.equal("CHECKPOINT_BAD_INPUT");
    expect(codeOf(() => parseCursor("x".repeat(513)))).to.equal("CHECKPOINT_BAD_INPUT");
  });

  it("isAfter keeps records after (since, cursor) and every record at since when the cursor is null", () => {
    const cp = { since: "2025-01-06T08:00:00.000Z", cursor: "pat-00050" };
    expect(isAfter(cp, "2025-01-06T08:00:00.000Z", "pat-00050")).to.equal(false);
    expect(isAfter(cp, "2025-01-06T08:00:00.000Z", "pat-00049")).to.equal(false);
    expect(isAfter(cp, "2025-01-06T08:00:00.000Z", "pat-00051")).to.equal(true);
    expect(isAfter(cp, "2025-01-06T07:59:59.999Z", "pat-99999")).to.equal(false);
    expect(isAfter(cp, "2025-01-06T08:00:00.001Z", "pat-00001")).to.equal(true);
    expect(isAfter({ since: cp.since, cursor: null }, cp.since, "pat-00001")).to.equal(true);
    expect(isAfter({ since: cp.since }, "2025-01-06T03:00:00-05:00", "a")).to.equal(true);
  });

  it("highestMark finds the last (time, id) of a batch, ties broken by id", () => {
    const records = [
      { t: "2025-01-06T08:00:02Z", id: "a" },
      { t: "2025-01-06T08:00:03Z", id: "c" },
      { t: "2025-01-06T08:00:03Z", id: "d" },
      { t: "2025-01-06T08:00:01Z", id: "z" },
    ];
    expect(
      highestMark(
        records,
        (r) => r.t,
        (r) => r.id,
      ),
    ).to.deep.equal({ highWater: "2025-01-06T08:00:03.000Z", cursor: "d" });
    expect(
      highestMark(
        [],
        () => "",
        () => "",
      ),
    ).to.equal(null);
  });
});
