import { expect } from "chai";
import type { PmsSimulator } from "../../sandbox/pms/server";
import { startRuntime, type Runtime } from "../support/red-runtime";
import {
  PATIENT_SYSTEM,
  flowContext,
  loadPipeline,
  pressInject,
  startServices,
  storedBy,
  waitFor,
  type Services,
} from "./support";

/**
 * examples/pipelines/health-dashboard.json deployed beside examples/pipelines/pms-webhook-to-ehr.json in one real Node-RED:
 * the monitor hears the other pipeline's calls without wires, serves them on the admin API, and
 * turns an EHR outage into one e-mail-ready alert without patient data.
 */

const NAME = "health-dashboard";
const DASHBOARD = loadPipeline(NAME);
const WEBHOOKS = loadPipeline("pms-webhook-to-ehr");
const TAB = `${NAME}-tab`;

interface Snapshot {
  state: string;
  integrations: Record<
    string,
    { state: string; successes: number; failures: number; consecutiveFailures: number; alert: boolean }
  >;
}

interface Alert {
  integration: string;
  alert: string;
  state: string;
  to?: string;
  topic: string;
  text: string;
}

describe("pipeline health-dashboard", function () {
  this.timeout(60000);
  let services: Services;
  let pms: PmsSimulator;
  let rt: Runtime;

  before(async function () {
    services = await startServices({ pms: { patients: 12, appointments: 4 } });
    pms = services.pms!;
    const dashboard = structuredClone(DASHBOARD);
    const tab = dashboard.find((n) => n.type === "tab") as unknown as {
      env: Array<{ name: string; value: string }>;
    };
    tab.env.find((v) => v.name === "ALERT_EMAIL_TO")!.value = "oncall@example.org";
    const flows = [...dashboard, ...WEBHOOKS];
    rt = await startRuntime({ flows, credentials: services.credentials(flows), env: services.env });
    pms.configureWebhook({
      url: `${rt.url}/pms/webhooks`,
      scheme: "pms-hmac",
      secret: services.secrets.webhookSecret,
      maxAttempts: 1,
    });
  });

  after(async function () {
    await rt?.stop();
    await services?.close();
  });

  it("shows every integration of the other pipeline on the admin API, healthy while calls succeed", async function () {
    for (const p of pms.data.patients.slice(0, 4)) await pms.emit("patient.updated", p);
    await waitFor(
      "four patients written",
      () => storedBy(services.fhir, "Patient", PATIENT_SYSTEM).size === 4,
    );
    const names = ["pms-webhook-to-ehr/webhook", "pms-webhook-to-ehr/pms", "pms-webhook-to-ehr/fhir"];
    // States are judged once a second: wait for the judgement after the calls.
    const snap = await waitFor("the calls judged on the dashboard", async () => {
      const s = await rt.getJson<Snapshot>("/pms-ehr/health");
      return (
        names.every(
          (n) => (s.integrations[n]?.successes ?? 0) >= 4 && s.integrations[n].state !== "unknown",
        ) && s
      );
    });
    for (const name of names) {
      expect(snap.integrations[name], name).to.include({ state: "healthy", failures: 0, alert: false });
      expect(snap.integrations[name].successes, name).to.be.at.least(4);
    }
    const prom = await fetch(`${rt.url}/pms-ehr/health?format=prometheus`);
    expect(prom.status).to.equal(200);
    expect(await prom.text()).to.contain('integration="pms-webhook-to-ehr/fhir"');
    const page = await fetch(`${rt.url}/pms-ehr/health/dashboard`);
    expect(page.status).to.equal(200);
  });

  it("raises one e-mail-ready alert when the EHR fails five times in a row, without patient data", async function () {
    services.fhir.faults.next(6, { status: 500 });
    const failing = pms.data.patients.slice(4, 10);
    for (const p of failing) await pms.emit("patient.updated", p);
    const alerts = await waitFor("the alert", async () => {
      const a = (await flowContext<Alert[]>(rt, TAB, "alerts")) ?? [];
      return a.some((x) => x.integration === "pms-webhook-to-ehr/fhir") && a;
    });
    const fhirAlerts = alerts.filter((a) => a.integration === "pms-webhook-to-ehr/fhir");
    expect(fhirAlerts).to.have.length(1);
    const alert = fhirAlerts[0];
    expect(alert).to.include({
      alert: "raise",
      state: "critical",
      to: "oncall@example.org",
      topic: "[PMS-EHR] ALERT: pms-webhook-to-ehr/fhir is critical",
    });
    expect(alert.text).to.match(/failures in a row/);
    expect(alert.text).to.contain("FHIR_HTTP_500");
    for (const p of failing) {
      expect(alert.text).to.not.contain(p.lastName);
      expect(alert.text).to.not.contain(p.id);
    }

    await pressInject(rt, `${NAME}-snapshot-now`);
    const health = await waitFor("the snapshot in flow context", async () => {
      const s = await flowContext<Snapshot>(rt, TAB, "health");
      return s?.state === "critical" && s;
    });
    expect(health.integrations["pms-webhook-to-ehr/fhir"]).to.include({ state: "critical", alert: true });
    // The six failed writes were counted; the webhook queue then retried them, so the patients arrive.
    expect(health.integrations["pms-webhook-to-ehr/fhir"].failures).to.be.at.least(6);
    await waitFor("the failed deliveries written on retry", () => {
      const stored = storedBy(services.fhir, "Patient", PATIENT_SYSTEM);
      return failing.every((p) => stored.has(p.id));
    });
  });
});
