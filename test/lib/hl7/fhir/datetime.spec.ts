import { expect } from "chai";
import {
  addMinutes,
  fhirInstant,
  fhirToV2DateTime,
  parseV2DateTime,
  TimeZone,
  toFhirDate,
  toFhirDateTime,
} from "../../../../lib/hl7/fhir/datetime";

function dt(text: string, zone = new TimeZone("Z")): string {
  const v = parseV2DateTime(text);
  if (!v) throw new Error(`not parsed: ${text}`);
  return toFhirDateTime(v, zone);
}

function date(text: string): string {
  const v = parseV2DateTime(text);
  if (!v) throw new Error(`not parsed: ${text}`);
  return toFhirDate(v);
}

describe("hl7-fhir datetime", () => {
  it("keeps the precision of a birth date: YYYY, YYYYMM, YYYYMMDD", () => {
    expect(date("1988")).to.equal("1988");
    expect(date("195003")).to.equal("1950-03");
    expect(date("19610615")).to.equal("1961-06-15");
  });

  it("never moves a date with time across midnight by its offset", () => {
    expect(date("19750412233000-0500")).to.equal("1975-04-12");
    expect(date("19750412003000+1400")).to.equal("1975-04-12");
  });

  it("rejects values that are not dates", () => {
    for (const bad of [
      "",
      "19",
      "1961-06-15",
      "19611315",
      "19610230",
      "2023022912",
      "1961061525",
      "abc",
      "20240101+99",
    ]) {
      expect(parseV2DateTime(bad), bad).to.equal(undefined);
    }
    expect(parseV2DateTime("20240229")).to.not.equal(undefined);
  });

  it("writes a time with seconds and the value's own offset", () => {
    expect(dt("20240115083000+0100")).to.equal("2024-01-15T08:30:00+01:00");
    expect(dt("202401150830-0530")).to.equal("2024-01-15T08:30:00-05:30");
    expect(dt("2024011508+0000")).to.equal("2024-01-15T08:00:00+00:00");
    expect(dt("20240115083005.1234+0100")).to.equal("2024-01-15T08:30:05.1234+01:00");
    expect(dt("20240115")).to.equal("2024-01-15");
    expect(dt("202401")).to.equal("2024-01");
  });

  it("places a time without offset in the configured zone, DST included", () => {
    const berlin = new TimeZone("Europe/Berlin");
    expect(dt("20240115083000", berlin)).to.equal("2024-01-15T08:30:00+01:00");
    expect(dt("20240715083000", berlin)).to.equal("2024-07-15T08:30:00+02:00");
    expect(dt("20240715083000", new TimeZone("-03:30"))).to.equal("2024-07-15T08:30:00-03:30");
    expect(dt("20240715083000", new TimeZone("UTC"))).to.equal("2024-07-15T08:30:00+00:00");
    expect(new TimeZone("Australia/Melbourne").offsetAt(2003, 11, 20, 14, 0, 0)).to.equal(660);
  });

  it("uses the runtime's zone when none is configured", () => {
    const expected = -new Date(2024, 6, 15, 8, 30, 0).getTimezoneOffset();
    expect(new TimeZone("").offsetAt(2024, 7, 15, 8, 30, 0)).to.equal(expected);
  });

  it("throws on an unknown zone name", () => {
    expect(() => new TimeZone("Mars/Olympus")).to.throw(RangeError);
  });

  it("writes FHIR dates and dateTimes back to v2 at the same precision", () => {
    expect(fhirToV2DateTime("1988")).to.equal("1988");
    expect(fhirToV2DateTime("1950-03")).to.equal("195003");
    expect(fhirToV2DateTime("1961-06-15")).to.equal("19610615");
    expect(fhirToV2DateTime("2024-01-15T08:30:00+01:00")).to.equal("20240115083000+0100");
    expect(fhirToV2DateTime("2024-01-15T08:30:00Z")).to.equal("20240115083000+0000");
    expect(fhirToV2DateTime("2024-01-15T08:30:00.123-05:00")).to.equal("20240115083000.123-0500");
    expect(fhirToV2DateTime("15/01/2024")).to.equal(undefined);
  });

  it("adds minutes in the value's own offset and measures instants", () => {
    expect(addMinutes("2003-11-20T14:00:00+11:00", 45)).to.equal("2003-11-20T14:45:00+11:00");
    expect(addMinutes("2024-03-05T23:30:00-05:00", 90)).to.equal("2024-03-06T01:00:00-05:00");
    expect(addMinutes("2024-03-05", 30)).to.equal(undefined);
    expect(fhirInstant("2024-01-15T08:30:00+01:00")).to.equal(Date.UTC(2024, 0, 15, 7, 30));
    expect(fhirInstant("2024-01-15")).to.equal(undefined);
  });
});
