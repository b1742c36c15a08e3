import { expect } from "chai";
import { mulberry32 } from "../../../sandbox/pms/data";
import { backoffDelay, isRetryableStatus, parseRetryAfter, retryDelay } from "../../../lib/fhir/retry";

describe("lib/fhir retry", () => {
  it("retries 429, 502, 503 and 504 only", () => {
    for (const s of [429, 502, 503, 504]) expect(isRetryableStatus(s), String(s)).to.equal(true);
    for (const s of [200, 400, 401, 404, 409, 412, 500, 501])
      expect(isRetryableStatus(s), String(s)).to.equal(false);
  });

  it("backs off exponentially with full jitter, within [0, min(cap, base*2^(n-1))]", () => {
    const random = mulberry32(42);
    for (let attempt = 1; attempt <= 12; attempt++) {
      const ceiling = Math.min(5000, 100 * 2 ** (attempt - 1));
      for (let i = 0; i < 200; i++) {
        const d = backoffDelay(attempt, 100, 5000, random);
        expect(d).to.be.at.least(0).and.at.most(ceiling);
        expect(Number.isInteger(d)).to.equal(true);
      }
    }
  });

  it("uses the whole jitter range (not a fixed step)", () => {
    const random = mulberry32(7);
    const samples = Array.from({ length: 500 }, () => backoffDelay(4, 100, 10_000, random));
    expect(Math.min(...samples)).to.be.below(100);
    expect(Math.max(...samples)).to.be.above(700);
  });

  it("takes the extremes of the random source to 0 and just under the ceiling", () => {
    expect(backoffDelay(3, 250, 30_000, () => 0)).to.equal(0);
    expect(backoffDelay(3, 250, 30_000, () => 0.999999)).to.equal(999);
    expect(backoffDelay(100, 250, 30_000, () => 0.999999)).to.equal(29_999);
    expect(backoffDelay(2000, 250, 30_000, () => 0.5)).to.equal(15_000);
  });

  it("reads Retry-After as delta-seconds", () => {
    expect(parseRetryAfter("0")).to.equal(0);
    expect(parseRetryAfter("2")).to.equal(2000);
    expect(parseRetryAfter(" 120 ")).to.equal(120_000);
    expect(parseRetryAfter(["3", "9"])).to.equal(3000);
  });

  it("reads Retry-After as an HTTP-date, relative to now", () => {
    const now = Date.parse("2015-10-21T07:27:30Z");
    expect(parseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT", now)).to.equal(30_000);
    expect(parseRetryAfter("Wed, 21 Oct 2015 07:27:00 GMT", now)).to.equal(0);
    // the obsolete RFC 850 form
    expect(parseRetryAfter("Wednesday, 21-Oct-15 07:28:00 GMT", now)).to.equal(30_000);
  });

  it("ignores an absent or unreadable Retry-After", () => {
    for (const v of [undefined, null, "", "soon", "-5", "1.5", "12:00"]) {
      expect(parseRetryAfter(v), String(v)).to.equal(undefined);
    }
  });

  it("prefers Retry-After over backoff and caps both at retryMaxMs", () => {
    expect(retryDelay(1, 4000, 100, 30_000, () => 0.5)).to.equal(4000);
    expect(retryDelay(1, 600_000, 100, 2000, () => 0.5)).to.equal(2000);
    expect(retryDelay(1, 0, 100, 2000, () => 0.5)).to.equal(0);
    expect(retryDelay(3, undefined, 100, 2000, () => 0.5)).to.equal(200);
  });
});
