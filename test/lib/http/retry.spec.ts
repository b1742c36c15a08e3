import { expect } from "chai";
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

  it("backs off exponentially with full jitter, capped", () => {
    const policy = { baseMs: 100, maxMs: 1000 };
    expect(backoffDelay(0, policy, () => 0)).to.equal(0);
    expect(backoffDelay(0, policy, () => 0.999999)).to.equal(99);
    expect(backoffDelay(3, policy, () => 0.5)).to.equal(400);
    expect(backoffDelay(10, policy, () => 0.999999)).to.equal(999);
    const seen = new Set<number>();
    let x = 0.1;
    const random = () => (x = (x * 9301 + 0.49297) % 1);
    for (let i = 0; i < 50; i++) {
      const d = backoffDelay(2, policy, random);
      expect(d).to.be.within(0, 399);
      seen.add(d);
    }
    expect(seen.size).to.be.greaterThan(10);
  });

  it("prefers Retry-After over backoff, and gives up when it exceeds the cap", () => {
    const policy = { baseMs: 100, maxMs: 1000 };
    expect(retryDelay(0, 800, policy, () => 0)).to.equal(800);
    expect(retryDelay(0, 1001, policy, () => 0)).to.equal(undefined);
    expect(retryDelay(1, undefined, policy, () => 0.5)).to.equal(100);
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
