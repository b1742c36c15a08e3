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
import { codeOf } from "../../support/errors";

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

describe("checkpoint: instants, durations and cursors at their edges", () => {
  const fmt = (text: string, allowDate = false) => formatInstant(parseInstant(text, "t", allowDate));
  const message = (fn: () => unknown): string => {
    try {
      fn();
    } catch (err) {
      return (err as Error).message;
    }
    return "";
  };

  it("takes each field at its limits and refuses one past them", () => {
    expect(fmt("1000-01-01T00:00:00Z")).to.equal("1000-01-01T00:00:00.000Z");
    expect(fmt("2025-12-31T23:59:59Z")).to.equal("2025-12-31T23:59:59.000Z");
    expect(fmt("2025-01-06T08:00Z")).to.equal("2025-01-06T08:00:00.000Z");
    expect(fmt("2025-01-06t08:00:00z")).to.equal("2025-01-06T08:00:00.000Z");
    expect(fmt("2025-01-06T08:00:00+23:59")).to.equal("2025-01-05T08:01:00.000Z");
    expect(fmt(" 2025-01-06T08:00:00Z ")).to.equal("2025-01-06T08:00:00.000Z");
    for (const bad of [
      "0999-12-31T23:59:59Z",
      "2025-00-06T08:00:00Z",
      "2025-13-06T08:00:00Z",
      "2025-01-00T08:00:00Z",
      "2025-01-32T08:00:00Z",
      "2025-01-06T08:60:00Z",
      "2025-01-06T08:00:60Z",
      "2025-01-06T08:00:00+24:00",
      "2025-01-06T08:00:00+01:60",
      "2025-01-06T08:00:00.1234567890Z",
      "x2025-01-06T08:00:00Z",
      "2025-01-06T08:00:00Zx",
    ]) {
      expect(
        codeOf(() => parseInstant(bad, "t")),
        bad,
      ).to.equal("CHECKPOINT_BAD_INPUT");
    }
    expect(codeOf(() => parseInstant("0999-01-01", "t", true))).to.equal("CHECKPOINT_BAD_INPUT");
    expect(codeOf(() => parseInstant("2025-01-06x", "t", true))).to.equal("CHECKPOINT_BAD_INPUT");
    expect(codeOf(() => parseInstant("x2025-01-06", "t", true))).to.equal("CHECKPOINT_BAD_INPUT");
  });

  it("applies a zone offset by its sign, hours and minutes", () => {
    expect(fmt("2025-01-06T08:00:00-01:30")).to.equal("2025-01-06T09:30:00.000Z");
    expect(fmt("2025-01-06T08:00:00+01:30")).to.equal("2025-01-06T06:30:00.000Z");
    expect(fmt("2025-01-06T08:00:00.5Z")).to.equal("2025-01-06T08:00:00.500Z");
    expect(fmt("2025-01-06T08:00:00.000100Z")).to.equal("2025-01-06T08:00:00.0001Z");
  });

  it("says what is wrong, quoting at most a short prefix of the input", () => {
    expect(message(() => parseInstant(new Date(NaN), "highWater"))).to.equal("highWater is an invalid Date");
    expect(message(() => parseInstant(null, "since"))).to.equal(
      "since must be an ISO date-time string, not null",
    );
    expect(message(() => parseInstant([], "since"))).to.equal(
      "since must be an ISO date-time string, not an array",
    );
    expect(message(() => parseInstant({}, "since"))).to.equal(
      "since must be an ISO date-time string, not an object",
    );
    expect(message(() => parseInstant(5, "since"))).to.equal(
      "since must be an ISO date-time string, not number",
    );
    expect(message(() => parseInstant("2025-02-30T08:00:00Z", "t"))).to.equal(
      't is not a valid date-time: "2025-02-30T08:00:00Z"',
    );
    expect(message(() => parseInstant("2025-02-30", "t", true))).to.equal(
      't is not a valid date: "2025-02-30"',
    );
    expect(message(() => parseInstant("2025-01-06T08:00:00+25:00", "t"))).to.equal(
      "t has a bad zone offset: +25:00",
    );
    expect(message(() => parseInstant("2025-01-06T08:00", "t"))).to.equal(
      't needs a time zone (Z or +hh:mm): "2025-01-06T08:00" names no single instant',
    );
    const long = "x".repeat(41);
    expect(message(() => parseInstant(long, "t"))).to.equal(
      `t is not an ISO date-time: "${"x".repeat(37)}"...`,
    );
    const forty = "y".repeat(40);
    expect(message(() => parseInstant(forty, "t"))).to.equal(`t is not an ISO date-time: "${forty}"`);
  });

  it("reads durations whole, in any case, with surrounding spaces", () => {
    expect(parseDuration(" 90S ")).to.equal(90_000);
    expect(parseDuration("1H30M")).to.equal(5_400_000);
    expect(parseDuration("")).to.equal(null);
    expect(parseDuration("   ")).to.equal(null);
    expect(parseDuration("x1h")).to.equal(null);
    expect(parseDuration("1hx")).to.equal(null);
    expect(parseDuration("1.h")).to.equal(null);
    expect(parseDuration("0.0005s")).to.equal(1);
    expect(parseDuration("9".repeat(400) + "d")).to.equal(null);
    const now = Date.parse("2025-03-01T12:00:00Z");
    expect(formatInstant(resolveInitial(undefined, now))).to.equal("1970-01-01T00:00:00.000Z");
    expect(formatInstant(resolveInitial(" 1d ", now))).to.equal("2025-02-28T12:00:00.000Z");
    expect(formatInstant(resolveInitial("2025-01-01", now))).to.equal("2025-01-01T00:00:00.000Z");
  });

  it("orders cursors as strings when either is not a safe integer or is longer than 40 digits", () => {
    expect(compareCursors(1e16, 2)).to.equal(-1);
    expect(compareCursors("9".repeat(41), "10")).to.equal(1);
    expect(compareCursors("1" + "0".repeat(40), "9")).to.equal(-1);
    expect(compareCursors("1" + "0".repeat(39), "9")).to.equal(1);
    expect(compareCursors("-5", "3")).to.equal(-1);
    expect(compareCursors("07", 7)).to.equal(0);
    expect(compareCursors("a", "a")).to.equal(0);
    expect(compareCursors(" 7", "8")).to.equal(-1);
    expect(compareCursors("7 ", "10")).to.equal(1);
  });

  it("takes cursors up to 512 characters and whole numbers only, saying why it refuses one", () => {
    expect(parseCursor("x".repeat(512))).to.equal("x".repeat(512));
    expect(parseCursor(undefined)).to.equal(null);
    expect(parseCursor(null)).to.equal(null);
    expect(parseCursor(0)).to.equal(0);
    expect(parseCursor(-3)).to.equal(-3);
    expect(message(() => parseCursor(1.5, "msg.checkpoint.cursor"))).to.equal(
      "msg.checkpoint.cursor must be a whole number or a string",
    );
    expect(message(() => parseCursor("x".repeat(513)))).to.equal("cursor is longer than 512 characters");
    expect(message(() => parseCursor(true))).to.equal(
      "cursor must be a string or a whole number, not boolean",
    );
  });

  it("reads decimal durations digit by digit, and keeps sub-millisecond digits up to the last non-zero", () => {
    expect(parseDuration("1.25h")).to.equal(4_500_000);
    expect(formatInstant(parseInstant("2025-01-06T08:00:00.1234050Z", "t"))).to.equal(
      "2025-01-06T08:00:00.123405Z",
    );
  });

  it("says a zone is missing only for a text that has a date and an hh:mm time", () => {
    const msg = (text: string) => {
      try {
        parseInstant(text, "t");
      } catch (err) {
        return (err as Error).message;
      }
      return "";
    };
    expect(msg("x2025-01-06T08:00")).to.equal('t is not an ISO date-time: "x2025-01-06T08:00"');
    expect(msg("2025-01-06T08:0")).to.equal('t is not an ISO date-time: "2025-01-06T08:0"');
  });

  it("orders an integer cursor against a non-integer one by code units", () => {
    expect(compareCursors("a", 5)).to.equal(1);
    expect(compareCursors(5, "a")).to.equal(-1);
  });

  it("names what it could not read in isAfter and highestMark", () => {
    const cp = { since: "2025-01-06T08:00:00Z", cursor: null };
    expect(() => isAfter(cp, "junk", 1)).to.throw('record time is not an ISO date-time: "junk"');
    expect(() => isAfter({ since: "junk" }, "2025-01-06T08:00:00Z", 1)).to.throw(
      'since is not an ISO date-time: "junk"',
    );
    expect(() =>
      highestMark(
        [{ t: "junk" }],
        (r) => r.t,
        () => 1,
      ),
    ).to.throw('record time is not an ISO date-time: "junk"');
  });

  it("highestMark keeps the first of records that compare equal", () => {
    const t = "2025-01-06T08:00:00Z";
    expect(
      highestMark(
        [{ id: "7" as string | number }, { id: 7 }],
        () => t,
        (r) => r.id,
      )?.cursor,
    ).to.equal("7");
  });

  it("highestMark of nothing is null, and of one record is that record", () => {
    expect(
      highestMark(
        [],
        (r: { t: string }) => r.t,
        () => "a",
      ),
    ).to.equal(null);
    expect(
      highestMark(
        [{ t: "2025-01-06T08:00:00.5Z", id: 7 }],
        (r) => r.t,
        (r) => r.id,
      ),
    ).to.deep.equal({
      highWater: "2025-01-06T08:00:00.500Z",
      cursor: 7,
    });
  });
});
