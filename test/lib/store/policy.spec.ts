import { expect } from "chai";
import { isRetryable, nextTry } from "../../../lib/store/policy";

describe("lib/store policy", () => {
  it("retries what may pass and dead-letters what will not", () => {
    for (const code of [
      "FHIR_HTTP_408",
      "FHIR_HTTP_429",
      "FHIR_HTTP_500",
      "FHIR_HTTP_503",
      "LEGACY_HTTP_502",
      "FHIR_NETWORK",
      "FHIR_TIMEOUT",
      "LEGACY_TIMEOUT",
      "MLLP_CONNECT",
      "MLLP_REPLY_TIMEOUT",
      "MLLP_NAK",
      "QUEUE_STORE",
      "ECONNREFUSED",
      undefined,
      "SOMETHING_A_USER_THREW",
    ]) {
      expect(isRetryable(code), String(code)).to.equal(true);
    }
    for (const code of [
      "FHIR_HTTP_400",
      "FHIR_HTTP_404",
      "FHIR_HTTP_412",
      "FHIR_HTTP_422",
      "LEGACY_HTTP_401",
      "MAP_REQUIRED",
      "MAP_VALIDATE",
      "HL7_PARSE",
      "HL7_UNSUPPORTED",
      "FHIR_BAD_INPUT",
      "WEBHOOK_SIGNATURE",
      "FHIR_CONFIG",
    ]) {
      expect(isRetryable(code), code).to.equal(false);
    }
  });

  it("retries a NAK that may pass (AE, CE, or no code read) but not one that refused the message for good (AR, CR)", () => {
    for (const ack of ["AE", "CE", undefined])
      expect(isRetryable("MLLP_NAK", ack), String(ack)).to.equal(true);
    for (const ack of ["AR", "CR"]) expect(isRetryable("MLLP_NAK", ack), ack).to.equal(false);
    const policy = { maxAttempts: 5, maxAgeMs: 3600_000, backoffBaseMs: 1000, backoffCapMs: 60_000 };
    expect(nextTry(policy, { code: "MLLP_NAK", ackCode: "AR" }, 1, 0, 0)).to.deep.equal({
      dead: "permanent",
    });
    expect(nextTry(policy, { code: "MLLP_NAK", ackCode: "AE" }, 1, 0, 0, () => 0)).to.deep.equal({
      retryAt: 500,
    });
    // The ack code only speaks for a NAK.
    expect(isRetryable("FHIR_HTTP_400", "AR")).to.equal(false);
  });

  const policy = { maxAttempts: 3, maxAgeMs: 60_000, backoffBaseMs: 1000, backoffCapMs: 10_000 };

  it("waits what Retry-After asks instead of the backoff", () => {
    expect(nextTry(policy, { code: "FHIR_HTTP_429", retryAfterMs: 7000 }, 1, 0, 100)).to.deep.equal({
      retryAt: 7100,
    });
  });

  it("gives up after maxAttempts and when a retry would come after maxAge", () => {
    expect(nextTry(policy, { code: "FHIR_HTTP_503" }, 2, 0, 0, () => 0)).to.deep.equal({ retryAt: 1000 });
    expect(nextTry(policy, { code: "FHIR_HTTP_503" }, 3, 0, 0)).to.deep.equal({ dead: "attempts" });
    expect(nextTry(policy, { code: "FHIR_HTTP_503", retryAfterMs: 61_000 }, 1, 0, 0)).to.deep.equal({
      dead: "age",
    });
    expect(nextTry(policy, { code: "FHIR_HTTP_404" }, 1, 0, 0)).to.deep.equal({ dead: "permanent" });
  });
});
