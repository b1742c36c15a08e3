import { expect } from "chai";
import {
  addMinutes,
  daysInMonth,
  epochMs,
  formatCompactDate,
  formatDate,
  formatDateTime,
  parseCalendarDate,
  parseDateTime,
  type ParsedDateTime,
} from "../../../lib/mapping/datetime";

/**
 * The date and date-time rules of the mapping transforms, from ISO 8601 and FHIR R4's date and
 * dateTime (the Gregorian calendar; offsets -12:00 to +14:00; hours 00-23, minutes and seconds
 * 00-59), with Date.parse as the independent check of the instants.
 */
function dt(text: string): ParsedDateTime {
  const parsed = parseDateTime(text);
  if (!parsed) throw new Error(`${text} should parse`);
  return parsed;
}

describe("lib/mapping datetime", () => {
  it("knows the Gregorian month lengths, leap years by the 4/100/400 rule", () => {
    const lengths = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    for (let month = 1; month <= 12; month++)
      expect(daysInMonth(2023, month), `2023-${month}`).to.equal(lengths[month - 1]);
    expect(daysInMonth(2024, 2)).to.equal(29);
    expect(daysInMonth(1900, 2)).to.equal(28);
    expect(daysInMonth(2000, 2)).to.equal(29);
    expect(daysInMonth(2100, 2)).to.equal(28);
    expect(daysInMonth(2024, 1)).to.equal(31);
  });

  describe("calendar dates", () => {
    const valid: Array<[unknown, string]> = [
      ["1980-05-04", "1980-05-04"],
      ["19800504", "1980-05-04"],
      ["2024-02-29", "2024-02-29"],
      ["20000229", "2000-02-29"],
      ["0001-01-01", "0001-01-01"],
      ["9999-12-31", "9999-12-31"],
      ["1980-05-04T23:30:00-10:00", "1980-05-04"],
      ["1980-05-04T00:30:00+14:00", "1980-05-04"],
      ["1980-05-04 07:15", "1980-05-04"],
    ];
    for (const [value, date] of valid) {
      it(`reads ${JSON.stringify(value)} as ${date}, as written`, () => {
        const d = parseCalendarDate(value);
        expect(d && formatDate(d)).to.equal(date);
      });
    }

    const invalid: unknown[] = [
      "0000-01-01",
      "00000101",
      "1980-00-10",
      "1980-13-10",
      "19801310",
      "1980-05-00",
      "1980-05-32",
      "1980-04-31",
      "19800431",
      "2023-02-29",
      "1900-02-29",
      "2100-02-29",
      "1980-5-04",
      "1980/05/04",
      "1980/05-04",
      "1980-05/04",
      "1980-1/-04",
      "1980-05-04 ",
      " 1980-05-04",
      "198O-05-04",
      "1980-0a-04",
      "1980-05-0x",
      "1980-05",
      "1980050",
      "198005041",
      "",
      19800504,
      null,
      undefined,
      new Date(Number.NaN),
      { year: 1980, month: 5, day: 4 },
    ];
    for (const value of invalid) {
      it(`refuses ${value instanceof Date ? "an invalid Date" : (JSON.stringify(value) ?? "undefined")} as a calendar date`, () => {
        expect(parseCalendarDate(value)).to.equal(undefined);
      });
    }

    it("reads a Date object by its local calendar day", () => {
      const local = new Date(1980, 4, 4, 0, 30);
      expect(parseCalendarDate(local)).to.deep.equal({ year: 1980, month: 5, day: 4 });
      const late = new Date(1999, 11, 31, 23, 59);
      expect(parseCalendarDate(late)).to.deep.equal({ year: 1999, month: 12, day: 31 });
    });

    it("writes four-digit years and two-digit months and days, dashed or compact", () => {
      expect(formatDate({ year: 7, month: 3, day: 9 })).to.equal("0007-03-09");
      expect(formatCompactDate({ year: 7, month: 3, day: 9 })).to.equal("00070309");
      expect(formatDate({ year: 1980, month: 10, day: 10 })).to.equal("1980-10-10");
      expect(formatCompactDate({ year: 1980, month: 12, day: 31 })).to.equal("19801231");
    });
  });

  describe("date-times", () => {
    it("splits a full date-time into its parts, exactly as written", () => {
      expect(parseDateTime("2025-01-06T08:05:07.250+05:30")).to.deep.equal({
        year: 2025,
        month: 1,
        day: 6,
        hour: 8,
        minute: 5,
        second: "07",
        fraction: ".250",
        offset: "+05:30",
        offsetMinutes: 330,
        exact: true,
      });
      expect(parseDateTime("2025-01-06T23:59:59Z")).to.deep.include({
        hour: 23,
        minute: 59,
        second: "59",
        fraction: "",
        offset: "Z",
        offsetMinutes: 0,
        exact: true,
      });
      expect(parseDateTime("2025-01-06T08:05:07")).to.deep.include({
        offset: "",
        offsetMinutes: 0,
        exact: true,
      });
    });

    it("accepts what it rewrites, and says it rewrote it: no seconds, a space, a compact offset", () => {
      const cases: Array<[string, string, Partial<ParsedDateTime>]> = [
        ["2025-01-06T08:05", "2025-01-06T08:05:00", { second: "00", exact: false }],
        ["2025-01-06T08:05Z", "2025-01-06T08:05:00Z", { offset: "Z", exact: false }],
        ["2025-01-06 08:05:07", "2025-01-06T08:05:07", { exact: false }],
        [
          "2025-01-06T08:05:07-0300",
          "2025-01-06T08:05:07-03:00",
          { offset: "-03:00", offsetMinutes: -180, exact: false },
        ],
        ["2025-01-06T08:05:07+0545", "2025-01-06T08:05:07+05:45", { offsetMinutes: 345, exact: false }],
        ["2025-01-06T08:05-05:00", "2025-01-06T08:05:00-05:00", { offsetMinutes: -300, exact: false }],
      ];
      for (const [text, written, parts] of cases) {
        const parsed = dt(text);
        expect(parsed, text).to.deep.include(parts);
        expect(formatDateTime(parsed), text).to.equal(written);
      }
    });

    it("gives back every exact date-time unchanged", () => {
      for (const text of [
        "2025-01-06T08:05:07Z",
        "2025-01-06T08:05:07.1Z",
        "2025-01-06T08:05:07.123456789-12:00",
        "0001-01-01T00:00:00+14:00",
        "2024-02-29T12:00:00",
      ]) {
        const parsed = dt(text);
        expect(parsed.exact, text).to.equal(true);
        expect(formatDateTime(parsed)).to.equal(text);
      }
    });

    it("takes a fraction of one to nine digits, and no more", () => {
      expect(dt("2025-01-06T08:05:07.123456789Z").fraction).to.equal(".123456789");
      expect(parseDateTime("2025-01-06T08:05:07.1234567890Z")).to.equal(undefined);
      expect(parseDateTime("2025-01-06T08:05:07.Z")).to.equal(undefined);
      expect(parseDateTime("2025-01-06T08:05:07.")).to.equal(undefined);
    });

    const refused = [
      "2025-01-06",
      "2025-01-06T08",
      "2025-01-06T8:05",
      "2025-01-06T08:5",
      "2025-01-06X08:05",
      "2025-01-06t08:05",
      "2025-01-06T08-05",
      "2025/01/06T08:05",
      "2025/01-06T08:05",
      "2025-01/06T08:05",
      "2025-01-06T1/:05",
      "2025-01-06T24:00",
      "2025-01-06T23:60",
      "2025-01-06T08:05:60",
      "2025-01-06T08:05:7",
      "2025-01-06T08:05:a7",
      "2025-02-30T08:05",
      "2025-13-06T08:05",
      "0000-01-06T08:05",
      "2025-01-06T0a:05",
      "2025-01-06T08:0a",
      "2025-01-06T08:05:07z",
      "2025-01-06T08:05:07ZZ",
      "2025-01-06T08:05:07Z ",
      "2025-01-06T08:05:07 ",
      "2025-01-06T08:05:07+14:01",
      "2025-01-06T08:05:07+15:00",
      "2025-01-06T08:05:07-05:60",
      "2025-01-06T08:05:07+5:00",
      "2025-01-06T08:05:07+05:0",
      "2025-01-06T08:05:07+05:000",
      "2025-01-06T08:05:07+050",
      "2025-01-06T08:05:07+05000",
      "2025-01-06T08:05:07+0a:00",
      "2025-01-06T08:05:07+05:a0",
      "2025-01-06T08:05:07+",
      "2025-01-06T08:05:07 05:00",
      "2025-01-06T08:05:07~0500",
      "2025-01-06T08:05:07.5+05",
    ];
    for (const text of refused) {
      it(`refuses ${JSON.stringify(text)}`, () => {
        expect(parseDateTime(text)).to.equal(undefined);
      });
    }

    it("accepts the offsets at the ends of the range, +14:00 and -14:00 with -12:00 between", () => {
      expect(dt("2025-01-06T08:05:07+14:00").offsetMinutes).to.equal(840);
      expect(dt("2025-01-06T08:05:07-14:00").offsetMinutes).to.equal(-840);
      expect(dt("2025-01-06T08:05:07-12:00").offsetMinutes).to.equal(-720);
      expect(dt("2025-01-06T08:05:07+13:59").offsetMinutes).to.equal(839);
      expect(dt("2025-01-06T08:05:07-00:00").offsetMinutes).to.equal(0);
    });

    it("names the instant Date.parse names, fraction and offset included", () => {
      for (const text of [
        "2025-01-06T08:05:07Z",
        "2025-01-06T08:05:07.250+05:30",
        "2025-01-06T08:05:07.9-03:00",
        "1970-01-01T00:00:00Z",
        "1969-12-31T23:59:59.999Z",
        "2024-02-29T23:59:59-12:00",
        "2000-03-01T00:00:00+14:00",
      ]) {
        expect(epochMs(dt(text)), text).to.equal(Date.parse(text));
      }
      expect(epochMs(dt("2025-01-06T08:05:07.123456789Z"))).to.be.closeTo(
        Date.parse("2025-01-06T08:05:07.123Z"),
        1,
      );
    });

    it("does not read a two-digit year as the 1900s", () => {
      const first = dt("0050-06-01T00:00:00Z");
      const expected = new Date(0);
      expected.setUTCFullYear(50, 5, 1);
      expect(epochMs(first)).to.equal(expected.getTime());
      expect(new Date(epochMs(first)).getUTCFullYear()).to.equal(50);
    });

    it("adds minutes on the wall clock of the start's offset, across days, months, years and leap days", () => {
      const cases: Array<[string, number, string]> = [
        ["2025-01-06T08:05:00-05:00", 30, "2025-01-06T08:35:00-05:00"],
        ["2025-01-06T23:45:00-05:00", 30, "2025-01-07T00:15:00-05:00"],
        ["2024-02-28T23:30:00Z", 60, "2024-02-29T00:30:00Z"],
        ["2023-02-28T23:30:00Z", 60, "2023-03-01T00:30:00Z"],
        ["2024-12-31T23:59:00+14:00", 1, "2025-01-01T00:00:00+14:00"],
        ["2025-03-01T00:10:00", -20, "2025-02-28T23:50:00"],
        ["2025-01-06T08:05:00", 0, "2025-01-06T08:05:00"],
        ["2025-01-06T08:05:00Z", 24 * 60 * 366, "2026-01-07T08:05:00Z"],
      ];
      for (const [start, minutes, end] of cases) {
        const shifted = addMinutes(dt(start), minutes);
        expect(formatDateTime(shifted), `${start} + ${minutes}`).to.equal(end);
        expect(shifted.exact).to.equal(false);
      }
    });

    it("keeps seconds, fraction and offset when it adds minutes, and leaves its argument alone", () => {
      const start = dt("2025-01-06T08:05:07.250+05:30");
      const shifted = addMinutes(start, 90);
      expect(formatDateTime(shifted)).to.equal("2025-01-06T09:35:07.250+05:30");
      expect(shifted.offsetMinutes).to.equal(330);
      expect(formatDateTime(start)).to.equal("2025-01-06T08:05:07.250+05:30");
      expect(start.exact).to.equal(true);
      expect(epochMs(shifted) - epochMs(start)).to.equal(90 * 60_000);
    });
  });
});
