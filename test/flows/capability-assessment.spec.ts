import { expect } from "chai";
import { startRuntime, type Runtime } from "../support/red-runtime";
import { flowContext, loadPipeline, pressInject, startServices, waitFor, type Services } from "./support";

/**
 * examples/pipelines/capability-assessment.json in a real Node-RED against the sandbox FHIR server and the PMS
 * simulator: the report it keeps must say what the two systems actually offer, and say plainly
 * when one of them is failing or refuses the credentials.
 */

const NAME = "capability-assessment";
const FLOW = loadPipeline(NAME);
const TAB = `${NAME}-tab`;

interface Probe {
  name: string;
  path: string;
  signed: boolean;
  ok: boolean;
  status?: number;
  code?: string;
}

interface Report {
  at: string;
  ehr: {
    ok: boolean;
    code?: string;
    status?: number;
    fhirVersion?: string;
    interactions?: string[];
    resourceTypes?: number;
    resources?: Record<
      string,
      { interactions: string[]; conditional: string[]; searchParams: string[] } | null
    >;
    auth?: {
      smart: boolean;
      tokenUrl?: string;
      tokenEndpointAuthMethods: string[];
      scopesSupported: string[];
    };
    bulkData?: { supported: boolean; export: string[] };
    subscriptions?: { supported: boolean; channelTypes: string[] };
    needs?: Array<{ pipeline: string; need: string; ok: boolean }>;
  };
  pms: {
    probes: Probe[];
    reachable: boolean;
    signedAccess: string;
    health: string;
    api: { name: string; auth: { scheme: string }; endpoints: string[] } | null;
    webhooks: { configured: boolean; scheme?: string; events: string[] } | string;
  };
}

describe("pipeline capability-assessment", function () {
  this.timeout(60000);
  let services: Services;
  let rt: Runtime;

  const report = () => flowContext<Report>(rt, TAB, "assessment");

  async function assessAgain(): Promise<Report> {
    const before = (await report())?.at;
    await pressInject(rt, `${NAME}-assess`);
    return waitFor("a new assessment", async () => {
      const r = await report();
      return r && r.at !== before && r;
    });
  }

  before(async function () {
    services = await startServices({ pms: { patients: 3, appointments: 3 } });
    services.pms!.configureWebhook({
      url: "http://127.0.0.1:1/pms/webhooks",
      scheme: "pms-hmac",
      secret: services.secrets.webhookSecret,
    });
    rt = await startRuntime({ flows: FLOW, credentials: services.credentials(FLOW), env: services.env });
  });

  after(async function () {
    await rt?.stop();
    await services?.close();
  });

  it("reports what the EHR and the PMS support, and that every pipeline's needs are met", async function () {
    const r = await waitFor("the assessment at start", report);
    expect(r.ehr).to.include({ ok: true, fhirVersion: "4.0.1" });
    expect(r.ehr.interactions).to.include.members(["transaction", "batch"]);
    expect(r.ehr.resourceTypes).to.be.above(100);
    expect(r.ehr.resources!.Patient!.conditional).to.include("update");
    expect(r.ehr.resources!.Encounter!.searchParams).to.include.members([
      "status",
      "_lastUpdated",
      "identifier",
    ]);
    expect(r.ehr.auth).to.deep.include({ smart: true, tokenUrl: services.fhir.tokenUrl });
    expect(r.ehr.auth!.tokenEndpointAuthMethods).to.have.members([
      "client_secret_basic",
      "client_secret_post",
      "private_key_jwt",
    ]);
    expect(r.ehr.bulkData).to.deep.equal({ supported: false, export: [] });
    expect(r.ehr.subscriptions).to.include({ supported: true });
    expect(r.ehr.subscriptions!.channelTypes).to.deep.equal([]);
    expect(r.ehr.needs!.filter((n) => !n.ok)).to.deep.equal([]);
    expect(new Set(r.ehr.needs!.map((n) => n.pipeline))).to.have.keys([
      "pms-webhook-to-ehr",
      "batch-sync",
      "hl7-adt-to-fhir",
      "hl7-siu-to-fhir",
      "ehr-to-pms",
      "care-coordination",
      "fhir-to-hl7",
    ]);

    expect(r.pms.probes.map((p) => [p.name, p.path, p.signed, p.ok, p.status])).to.deep.equal([
      ["health", "/health", false, true, 200],
      ["capabilities", "/capabilities", false, true, 200],
      ["patients", "/patients", true, true, 200],
      ["appointments", "/appointments", true, true, 200],
    ]);
    expect(r.pms).to.include({ reachable: true, signedAccess: "accepted", health: "ok" });
    expect(r.pms.api!.auth.scheme).to.equal("pms-hmac");
    expect(r.pms.api!.endpoints).to.include.members(["PATCH /appointments/{id}", "POST /charges"]);
    expect(r.pms.webhooks).to.deep.include({ configured: true, scheme: "pms-hmac" });
    // Nothing was written, and no record data is in the report.
    expect(services.pms!.charges).to.deep.equal([]);
    const text = JSON.stringify(r);
    for (const p of services.pms!.data.patients) expect(text).to.not.contain(p.lastName);
  });

  it("says when the EHR fails and when the PMS refuses the key, probe by probe", async function () {
    const flow = structuredClone(FLOW);
    const creds = services.credentials(flow);
    for (const id of Object.keys(creds)) {
      if ("apiSecret" in creds[id]) creds[id] = { apiKey: services.secrets.apiKey, apiSecret: "wrong" };
    }
    const before = (await report())!.at;
    await rt.deploy(flow, creds);
    // The assessment the new deploy runs at start comes first; then the one with the EHR failing.
    await waitFor("the assessment at start", async () => (await report())!.at !== before);
    services.fhir.faults.next(1, { status: 500 });
    const r = await assessAgain();
    expect(r.ehr).to.deep.equal({ ok: false, code: "FHIR_HTTP_500", status: 500 });
    expect(r.pms.probes.map((p) => [p.name, p.ok, p.status, p.code])).to.deep.equal([
      ["health", true, 200, undefined],
      ["capabilities", true, 200, undefined],
      ["patients", false, 401, "LEGACY_HTTP_401"],
      ["appointments", false, 401, "LEGACY_HTTP_401"],
    ]);
    expect(r.pms.signedAccess).to.match(/^refused \(401\)/);
  });
});
