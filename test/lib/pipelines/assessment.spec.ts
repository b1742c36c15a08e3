import { expect } from "chai";
import type { CapabilitySummary } from "../../../lib/fhir/types";
import {
  PMS_PROBES,
  assessmentStatus,
  ehrFailure,
  ehrReport,
  pipelineNeeds,
  pmsReport,
  probeResult,
} from "../../../lib/pipelines/assessment";

function summary(over: Partial<CapabilitySummary> = {}): CapabilitySummary {
  const full = {
    interactions: ["read", "vread", "update", "create", "search-type"],
    searchParams: ["identifier", "status", "_lastUpdated", "context"],
    operations: [],
    conditional: ["update", "create"],
  };
  return {
    fhirVersion: "4.0.1",
    formats: ["json"],
    resources: Object.fromEntries(
      ["Patient", "Appointment", "Encounter", "Task", "ChargeItem", "Subscription", "Observation"].map(
        (t) => [t, full],
      ),
    ),
    interactions: ["transaction", "batch"],
    operations: [],
    security: { smart: false, services: [] },
    bulkData: false,
    subscriptions: { supported: true, channelTypes: [] },
    statement: {},
    ...over,
  };
}

describe("lib/pipelines/assessment", () => {
  it("meets every pipeline's needs on a server that offers them, and names what a poorer one lacks", () => {
    expect(pipelineNeeds(summary()).filter((n) => !n.ok)).to.deep.equal([]);
    const poor = summary({ interactions: ["batch"] });
    delete poor.resources.Task;
    const unmet = pipelineNeeds(poor).filter((n) => !n.ok);
    expect(unmet.map((n) => n.pipeline)).to.have.members([
      "pms-webhook-to-ehr",
      "hl7-adt-to-fhir",
      "care-coordination",
      "care-coordination",
    ]);
    expect(unmet.map((n) => n.need)).to.include("conditional create of Task");
  });

  it("reports the used resources (null for one the server lacks) and counts the others", () => {
    const s = summary();
    delete s.resources.ChargeItem;
    const r = ehrReport(s);
    expect(r.resourceTypes).to.equal(6);
    expect(r.resources!.ChargeItem).to.equal(null);
    expect(r.resources!.Patient).to.have.keys(["interactions", "conditional", "searchParams"]);
    expect(r.resources).to.not.have.property("Observation");
    expect(r.auth).to.deep.include({ tokenEndpointAuthMethods: [], scopesSupported: [] });
    expect(r.bulkData).to.deep.equal({ supported: false, export: [] });
  });

  it("reads a failed probe's status from its code when the error had none, and leaves out what is unknown", () => {
    expect(probeResult(PMS_PROBES[2], { code: "LEGACY_HTTP_503" })).to.deep.equal({
      name: "patients",
      path: "/patients",
      signed: true,
      ok: false,
      status: 503,
      code: "LEGACY_HTTP_503",
    });
    expect(probeResult(PMS_PROBES[0], { code: "LEGACY_NETWORK" })).to.not.have.property("status");
    expect(probeResult(PMS_PROBES[0], { status: 200, durationMs: 12.6 })).to.include({
      ok: true,
      durationMs: 13,
    });
    expect(ehrFailure("FHIR_NETWORK", 0)).to.deep.equal({ ok: false, code: "FHIR_NETWORK" });
  });

  it("sums the PMS up without a capabilities answer, and takes only the description fields of one", () => {
    const probes = [
      probeResult(PMS_PROBES[0], { code: "LEGACY_HTTP_404" }),
      probeResult(PMS_PROBES[1], { code: "LEGACY_HTTP_404" }),
      probeResult(PMS_PROBES[2], { status: 200 }),
      probeResult(PMS_PROBES[3], { code: "LEGACY_HTTP_500" }),
    ];
    expect(pmsReport(probes, undefined)).to.deep.include({
      reachable: true,
      signedAccess: "failed",
      health: "no /health",
      api: null,
      webhooks: "unknown: the PMS has no capabilities endpoint",
    });
    const r = pmsReport(probes, {
      name: "PMS",
      endpoints: [{ method: "GET", path: "/patients" }, "junk"],
      secretish: "not copied",
    });
    expect(r.api!.endpoints).to.deep.equal(["GET /patients"]);
    expect(r.webhooks).to.deep.equal({ configured: false });
    expect(JSON.stringify(r)).to.not.contain("not copied");
  });

  it("shows green only when every need is met and every signed probe answered", () => {
    const ok = pmsReport(
      PMS_PROBES.map((p) => probeResult(p, { status: 200 })),
      undefined,
    );
    expect(assessmentStatus({ at: "", ehr: ehrReport(summary()), pms: ok })).to.deep.equal({
      kind: "ok",
      text: "FHIR 4.0.1, PMS 4/4",
    });
    expect(assessmentStatus({ at: "", ehr: ehrReport(summary({ interactions: [] })) }).kind).to.equal(
      "degraded",
    );
    expect(assessmentStatus({ at: "", ehr: ehrFailure("FHIR_HTTP_500", 500), pms: ok })).to.deep.equal({
      kind: "failed",
      text: "EHR FHIR_HTTP_500, PMS 4/4",
    });
  });
});
