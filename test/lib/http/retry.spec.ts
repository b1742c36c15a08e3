import { expect } from "chai";
import { getEventListeners } from "node:events";
import { mulberry32 } from "../../../sandbox/pms/data";
import {
  backoffDelay,
  isIdempotentMethod,
  isRetryableStatus,
  parseRetryAfter,
  retryDelay,
  sleep,
} from "../../../lib/http/retry";

describe("lib/http/retry", () => {
  it("retries only idempotent methods", () => {
    for (const m of ["GET", "get", "HEAD", "PUT", "DELETE", "OPTIONS"])
      expect(isIdempotentMethod(m), m).to.equal(true);
    for (const m of ["POST", "PATCH", "post"]) expect(isIdempotentMethod(m), m).to.equal(false);
  });

  it("treats 429, 502, 503 and 504 as transient, nothing else", () => {
    for (const s of [429, 502, 503, 504]) expect(isRetryableStatus(s), String(s)).to.equal(true);
    for (const s of [200, 400, 401, 404, 409, 500, 501])
      expect(isRetryableStatus(s), String(s)).to.equal(false);
  });

  it("reads Retry-After as delay-seconds", () => {
    expect(parseRetryAfter("0")).to.equal(0);
    expect(parseRetryAfter(" 7 ")).to.equal(7000);
    expect(parseRetryAfter(["3", "9"])).to.equal(3000);
  });

  it("reads Retry-After as an HTTP-date relative to now, never negative", () => {
    const now = Date.parse("2025-01-06T08:00:00Z");
    expect(parseRetryAfter("Mon, 06 Jan 2025 08:00:05 GMT", now)).to.equal(5000);
    expect(parseRetryAfter("Mon, 06 Jan 2025 07:59:00 GMT", now)).to.equal(0);
    // RFC 9110's two obsolete forms: RFC 850 and asctime
    expect(parseRetryAfter("Monday, 06-Jan-25 08:00:05 GMT", now)).to.equal(5000);
    expect(parseRetryAfter("Mon Jan  6 08:00:05 2025", now)).to.be.a("number");
  });

  it("ignores absent or unparseable Retry-After values", () => {
    for (const v of [undefined, null, "", "soon", "-5", "1.5", "2025-01-06T08:00:00Z", "Xyz, garbage"]) {
      expect(parseRetryAfter(v as string | undefined), String(v)).to.equal(undefined);
    }
  });

  it("backs off exponentially with equal jitter (durable-queue), up to the cap", () => {
    const queue = { baseMs: 1000, maxMs: 60_000, jitter: "equal" } as const;
    expect(backoffDelay(1, queue, () => 0)).to.equal(500);
    expect(backoffDelay(1, queue, () => 1)).to.equal(1000);
    expect(backoffDelay(3, queue, () => 0)).to.equal(2000);
    expect(backoffDelay(3, queue, () => 0.5)).to.equal(3000);
    expect(backoffDelay(30, queue, () => 1)).to.equal(60_000);
  });

  it("backs off exponentially with full jitter after failed attempt n (from 1), capped", () => {
    const policy = { baseMs: 100, maxMs: 1000 };
    expect(backoffDelay(1, policy, () => 0)).to.equal(0);
    expect(backoffDelay(1, policy, () => 0.999999)).to.equal(99);
    expect(backoffDelay(4, policy, () => 0.5)).to.equal(400);
    expect(backoffDelay(11, policy, () => 0.999999)).to.equal(999);
    const seen = new Set<number>();
    let x = 0.1;
    const random = () => (x = (x * 9301 + 0.49297) % 1);
    for (let i = 0; i < 50; i++) {
      const d = backoffDelay(3, policy, random);
      expect(d).to.be.within(0, 399);
      seen.add(d);
    }
    expect(seen.size).to.be.greaterThan(10);
  });

  it("prefers Retry-After over backoff, and gives up when it exceeds the cap (the default, the legacy client)", () => {
    const policy = { baseMs: 100, maxMs: 1000 };
    expect(retryDelay(1, 800, policy, () => 0)).to.equal(800);
    expect(retryDelay(1, 1001, policy, () => 0)).to.equal(undefined);
    expect(retryDelay(1, 1001, { ...policy, longRetryAfter: "give-up" }, () => 0)).to.equal(undefined);
    expect(retryDelay(2, undefined, policy, () => 0.5)).to.equal(100);
  });

  it("reads only a Retry-After date that starts with its weekday, and no unreadable date", () => {
    const now = Date.parse("2025-01-06T08:00:00Z");
    // Date.parse alone would read these: text before the date, or a weekday and no date.
    for (const v of ["at Mon, 06 Jan 2025 08:00:05 GMT", "Mon, garbage", "Monday, 99-Foo-25 08:00:05 GMT"]) {
      expect(parseRetryAfter(v, now), v).to.equal(undefined);
    }
  });

  it("honours a Retry-After exactly at the cap, and gives up only above it", () => {
    const policy = { baseMs: 100, maxMs: 1000 };
    expect(retryDelay(1, 1000, policy, () => 0)).to.equal(1000);
    expect(retryDelay(1, 1000, { ...policy, longRetryAfter: "give-up" }, () => 0)).to.equal(1000);
  });

  it("leaves no listener on the signal once the sleep ends, by its timer or by the abort", async () => {
    // A long-lived signal (a client's lifetime) must not collect one listener per sleep.
    const lifetime = new AbortController();
    for (let i = 0; i < 3; i++) await sleep(1, lifetime.signal);
    expect(getEventListeners(lifetime.signal, "abort")).to.have.length(0);
    const pending = sleep(60_000, lifetime.signal);
    expect(getEventListeners(lifetime.signal, "abort")).to.have.length(1);
    lifetime.abort(new Error("closing"));
    await pending.catch(() => undefined);
    expect(getEventListeners(lifetime.signal, "abort")).to.have.length(0);
  });

  it("sleeps, and stops sleeping when aborted", async () => {
    await sleep(1);
    const controller = new AbortController();
    const pending = sleep(60_000, controller.signal);
    controller.abort(new Error("closing"));
    let caught: unknown;
    try {
      await pending;
    } catch (err) {
      caught = err;
    }
    expect((caught as Error).message).to.equal("closing");
    const already = new AbortController();
    already.abort(new Error("early"));
    try {
      await sleep(10, already.signal);
      expect.fail("should reject");
    } catch (err) {
      expect((err as Error).message).to.equal("early");
    }
  });
});

/** The FHIR client's policy: a Retry-After above the cap waits the cap. */
function fhir(baseMs: number, maxMs: number) {
  return { baseMs, maxMs, longRetryAfter: "wait-cap" } as const;
}

describe("lib/http/retry as the FHIR client uses it (wait-cap)", () => {
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
        const d = backoffDelay(attempt, fhir(100, 5000), random);
        expect(d).to.be.at.least(0).and.at.most(ceiling);
        expect(Number.isInteger(d)).to.equal(true);
      }
    }
  });

  it("uses the whole jitter range (not a fixed step)", () => {
    const random = mulberry32(7);
    const samples = Array.from({ length: 500 }, () => backoffDelay(4, fhir(100, 10_000), random));
    expect(Math.min(...samples)).to.be.below(100);
    expect(Math.max(...samples)).to.be.above(700);
  });

  it("takes the extremes of the random source to 0 and just under the ceiling", () => {
    expect(backoffDelay(3, fhir(250, 30_000), () => 0)).to.equal(0);
    expect(backoffDelay(3, fhir(250, 30_000), () => 0.999999)).to.equal(999);
    expect(backoffDelay(100, fhir(250, 30_000), () => 0.999999)).to.equal(29_999);
    expect(backoffDelay(2000, fhir(250, 30_000), () => 0.5)).to.equal(15_000);
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
    expect(retryDelay(1, 4000, fhir(100, 30_000), () => 0.5)).to.equal(4000);
    expect(retryDelay(1, 600_000, fhir(100, 2000), () => 0.5)).to.equal(2000);
    expect(retryDelay(1, 0, fhir(100, 2000), () => 0.5)).to.equal(0);
    expect(retryDelay(3, undefined, fhir(100, 2000), () => 0.5)).to.equal(200);
  });
});
