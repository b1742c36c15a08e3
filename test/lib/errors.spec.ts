import { expect } from "chai";
import { PackError, toCodedError } from "../../lib/errors";
import { healthBus, reportHealth, HEALTH_EVENT, type HealthEvent } from "../../lib/health/bus";

describe("lib/errors", () => {
  it("puts code and details on the error as own properties", () => {
    const err = new PackError("FHIR_HTTP_412", "precondition failed", { issue: [] });
    expect(Object.prototype.hasOwnProperty.call(err, "code")).to.equal(true);
    expect(err.code).to.equal("FHIR_HTTP_412");
    expect(err.details).to.deep.equal({ issue: [] });
    expect(err).to.be.instanceOf(Error);
  });

  it("gives a code to errors that have none, and keeps one that exists", () => {
    const plain = toCodedError(new Error("boom"), "QUEUE_ERROR");
    expect(plain.code).to.equal("QUEUE_ERROR");
    expect(Object.prototype.hasOwnProperty.call(plain, "code")).to.equal(true);
    const coded = toCodedError(new PackError("HL7_PARSE", "bad"), "QUEUE_ERROR");
    expect(coded.code).to.equal("HL7_PARSE");
    const fromString = toCodedError("text", "QUEUE_ERROR");
    expect(fromString).to.be.instanceOf(Error);
    expect(fromString.message).to.equal("text");
  });
});

describe("lib/health/bus", () => {
  it("delivers events to listeners, with a time", () => {
    const seen: HealthEvent[] = [];
    const listener = (e: HealthEvent) => seen.push(e);
    healthBus().on(HEALTH_EVENT, listener);
    try {
      reportHealth({ integration: "fhir", success: true, durationMs: 12 });
    } finally {
      healthBus().off(HEALTH_EVENT, listener);
    }
    expect(seen).to.have.length(1);
    expect(seen[0].integration).to.equal("fhir");
    expect(seen[0].time).to.be.a("number");
  });
});
