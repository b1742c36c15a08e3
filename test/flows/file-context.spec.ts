import { expect } from "chai";
import type { ChargeItem, Encounter } from "@medplum/fhirtypes";
import { compileBuiltin } from "../../lib/mapping";
import type { PmsAppointment } from "../../lib/mapping/records";
import { startSandbox, shippedFlows, withSandboxCredentials, type Sandbox } from "../../sandbox/demo";
import { dftFromPms, messagesFromPms } from "../../sandbox/hl7/messages";
import { startHl7Sender, type Hl7Sender } from "../../sandbox/hl7/sender";
import { mllpPortsByEnv } from "../support/mllp-port";
import { startRuntime, type FlowNode, type Runtime } from "../support/red-runtime";
import {
  APPOINTMENT_SYSTEM,
  ENCOUNTER_SYSTEM,
  PATIENT_SYSTEM,
  allOf,
  flowContext,
  loadPipeline,
  pressInject,
  resolved,
  storedBy,
  waitFor,
} from "./support";

/**
 * Every shipped pipeline in one real Node-RED whose default context store is `localfilesystem`
 * with `cache: false`, as README and docs/checkpoint-health.md recommend: such a store refuses
 * synchronous `get`/`set` ("File Store cache disabled - only asynchronous access supported"), so
 * each pipeline must use context with callbacks. One case per pipeline: it does its job there
 * (data arrives, its records are in the file store) and no node of it logged a refused access.
 * A Catch node that handles the refusal keeps it out of the log, so the result is the proof; the
 * log check names the node where nothing catches.
 */

const SYNC_REFUSED = /only asynchronous access supported/;
const patientMap = compileBuiltin("patient");
const encounterMap = compileBuiltin("encounter");
const CPT = "http://www.ama-assn.org/go/cpt";

const FLOWS = shippedFlows();
const tabOf = (name: string): string => {
  const tab = loadPipeline(name).find((n) => n.type === "tab");
  if (!tab) throw new Error(`no tab in flows/${name}.json`);
  return tab.id;
};
const idOf = (tab: string, test: (n: FlowNode) => boolean): string => {
  const node = FLOWS.find((n) => n.z === tab && test(n));
  if (!node) throw new Error(`no such node on ${tab}`);
  return node.id;
};

describe("shipped pipelines with a file context store without cache", function () {
  this.timeout(60000);
  let sandbox: Sandbox;
  let rt: Runtime;
  let hl7: Record<"ADT" | "SIU" | "DFT", Hl7Sender>;
  let billed: PmsAppointment;

  /** Log lines of the runtime where a node of `tab` had its context access refused. */
  function refusals(tab: string): string[] {
    const labels = FLOWS.filter((n) => n.z === tab).map((n) => `[${n.type}:${String(n.name || n.id)}]`);
    return rt.logs.filter((l) => SYNC_REFUSED.test(l) && labels.some((label) => l.includes(label)));
  }

  /** Presses an inject node until the flow's `runs` record gets a run that was not skipped. */
  async function runOf<T extends { seq: number; outcome: string }>(tab: string, inject: string): Promise<T> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const last = ((await flowContext<T[]>(rt, tab, "runs")) ?? []).at(-1)?.seq ?? 0;
      await pressInject(rt, inject);
      const run = await waitFor(`a run of ${tab}`, async () =>
        ((await flowContext<T[]>(rt, tab, "runs")) ?? []).find((r) => r.seq > last),
      );
      if (run.outcome !== "skipped") return run;
    }
    throw new Error(`${tab}: every run was skipped`);
  }

  before(async function () {
    // Visits from a few hours ago on: some booked ahead (care-coordination), some completed.
    const start = new Date(Date.now() - 6 * 3600_000).toISOString();
    sandbox = await startSandbox({ pmsData: { seed: 21, patients: 6, appointments: 14, start } });
    const fhir = sandbox.fhir.repository;
    // The EHR holds the practice's patients, and one finished visit with a billable charge (ehr-to-pms).
    for (const p of sandbox.pms.data.patients) await fhir.createResource(patientMap.toFhir(p).value as never);
    billed = sandbox.pms.data.appointments.find((a) => a.status === "scheduled" || a.status === "confirmed")!;
    const encounter = (await fhir.createResource({
      ...(resolved(sandbox.fhir, encounterMap.toFhir(billed).value) as unknown as Encounter),
      status: "finished",
    })) as Encounter;
    await fhir.createResource<ChargeItem>({
      resourceType: "ChargeItem",
      status: "billable",
      code: { coding: [{ system: CPT, code: "99213" }], text: "CPT 99213" },
      subject: encounter.subject!,
      context: { reference: `Encounter/${encounter.id}` },
      priceOverride: { value: 110, currency: "USD" },
    });
    rt = await startRuntime({
      flows: withSandboxCredentials(FLOWS, sandbox),
      env: sandbox.env,
      settings: {
        contextStorage: {
          default: { module: "localfilesystem", config: { cache: false, base: "context-direct" } },
        },
      },
    });
    const ports = await mllpPortsByEnv(rt, FLOWS);
    const sender = (family: "ADT" | "SIU" | "DFT", port: number) =>
      startHl7Sender({ port, intervalMs: 0, retries: 3, ackTimeoutMs: 30000, only: family });
    hl7 = {
      ADT: await sender("ADT", ports.HL7_ADT_PORT),
      SIU: await sender("SIU", ports.HL7_SIU_PORT),
      DFT: await sender("DFT", ports.HL7_DFT_PORT),
    };
  });

  after(async function () {
    await Promise.all(Object.values(hl7 ?? {}).map((s) => s.stop()));
    await rt?.stop();
    await sandbox?.close();
  });

  it("runs on a default store that refuses synchronous access", function () {
    // The settings above took: a flow-context read through the admin API names the store.
    expect(rt.logs.some((l) => /Context store\s*:\s*'default' \[module=localfilesystem\]/.test(l))).to.equal(
      true,
    );
  });

  it("pms-webhook-to-ehr: a signed webhook's patient arrives in the EHR", async function () {
    const tab = tabOf("pms-webhook-to-ehr");
    const patient = sandbox.pms.data.patients[0];
    const secret = sandbox.credentialsFor({ id: "w", type: "webhook-verify" })!.secrets;
    sandbox.pms.configureWebhook({
      url: `${rt.url}/pms/webhooks`,
      scheme: "pms-hmac",
      secret,
      maxAttempts: 1,
    });
    await sandbox.pms.updatePatient(patient.id, { lastName: "Filestore" });
    await waitFor("the patient updated in the EHR", () => {
      const p = storedBy(sandbox.fhir, "Patient", PATIENT_SYSTEM).get(patient.id) as {
        name?: Array<{ family?: string }>;
      };
      return p?.name?.[0]?.family === "Filestore";
    });
    expect(refusals(tab)).to.deep.equal([]);
  });

  it("batch-sync: every PMS record arrives in the EHR, and its run records are in the file store", async function () {
    const tab = tabOf("batch-sync");
    const inject = idOf(tab, (n) => n.type === "inject");
    const seen = ((await flowContext<Array<{ seq: number }>>(rt, tab, "syncRuns")) ?? []).length;
    await pressInject(rt, inject);
    const runs = await waitFor("the patients' and the appointments' runs", async () => {
      const r = (
        (await flowContext<Array<{ entity: string; outcome: string }>>(rt, tab, "syncRuns")) ?? []
      ).slice(seen);
      return r.some((x) => x.entity === "appointments" || x.outcome !== "ok") && r;
    });
    expect(runs.map((r) => [r.entity, r.outcome])).to.deep.equal([
      ["patients", "ok"],
      ["appointments", "ok"],
    ]);
    const appointments = storedBy(sandbox.fhir, "Appointment", APPOINTMENT_SYSTEM);
    for (const a of sandbox.pms.data.appointments) expect(appointments.has(a.id), a.id).to.equal(true);
    expect(refusals(tab)).to.deep.equal([]);
  });

  it("hl7-adt-to-fhir: an ADT visit is answered AA and its Encounter arrives", async function () {
    const tab = tabOf("hl7-adt-to-fhir");
    const m = messagesFromPms(sandbox.pms.data).find((x) => x.type === "ADT")!;
    expect((await hl7.ADT.send(m.text)).code).to.equal("AA");
    expect(storedBy(sandbox.fhir, "Encounter", ENCOUNTER_SYSTEM).has(m.appointmentId)).to.equal(true);
    expect(refusals(tab)).to.deep.equal([]);
  });

  it("hl7-siu-to-fhir: an SIU booking is answered AA and its Appointment arrives", async function () {
    const tab = tabOf("hl7-siu-to-fhir");
    const m = messagesFromPms(sandbox.pms.data).find((x) => x.type === "SIU")!;
    expect((await hl7.SIU.send(m.text)).code).to.equal("AA");
    expect(storedBy(sandbox.fhir, "Appointment", APPOINTMENT_SYSTEM).has(m.appointmentId)).to.equal(true);
    expect(refusals(tab)).to.deep.equal([]);
  });

  it("hl7-dft-to-pms: a DFT is answered AA and its charges arrive in the PMS", async function () {
    const tab = tabOf("hl7-dft-to-pms");
    const bill = dftFromPms(sandbox.pms.data)[0];
    expect((await hl7.DFT.send(bill.text)).code).to.equal("AA");
    expect(sandbox.pms.charges.some((c) => c.appointmentId === bill.appointmentId)).to.equal(true);
    expect(refusals(tab)).to.deep.equal([]);
  });

  it("ehr-to-pms: a finished visit's billable charge arrives in the PMS", async function () {
    const tab = tabOf("ehr-to-pms");
    const run = await runOf<{ seq: number; outcome: string }>(
      tab,
      idOf(tab, (n) => n.id === "ehr-to-pms-every"),
    );
    expect(run.outcome).to.equal("ok");
    await waitFor("the charge posted", () =>
      sandbox.pms.charges.some((c) => c.appointmentId === billed.id && c.code === "99213"),
    );
    expect(refusals(tab)).to.deep.equal([]);
  });

  it("care-coordination: a visit booked ahead gets its planned Encounter and Tasks", async function () {
    const tab = tabOf("care-coordination");
    const run = await runOf<{ seq: number; outcome: string }>(
      tab,
      idOf(tab, (n) => n.id === "care-coordination-every"),
    );
    expect(run.outcome).to.equal("ok");
    const ahead = sandbox.pms.data.appointments.filter(
      (a) =>
        (a.status === "scheduled" || a.status === "confirmed") && Date.parse(a.scheduledTime) > Date.now(),
    );
    expect(ahead.length).to.be.above(0);
    await waitFor("the Tasks of the visits ahead", () =>
      ahead.every((a) =>
        allOf(sandbox.fhir, "Task").some((t) => t.identifier?.some((i) => i.value?.startsWith(`${a.id}-`))),
      ),
    );
    expect(refusals(tab)).to.deep.equal([]);
  });

  it("fhir-to-hl7: the EHR's patients arrive downstream as HL7", async function () {
    const tab = tabOf("fhir-to-hl7");
    const run = await runOf<{ seq: number; outcome: string }>(
      tab,
      idOf(tab, (n) => n.id === "fhir-to-hl7-every"),
    );
    expect(run.outcome).to.equal("ok");
    await sandbox.downstream.waitFor(sandbox.pms.data.patients.length, 20000);
    expect(refusals(tab)).to.deep.equal([]);
  });

  it("health-dashboard: the monitor keeps its snapshot in the file store", async function () {
    const tab = tabOf("health-dashboard");
    await pressInject(
      rt,
      idOf(tab, (n) => n.type === "inject"),
    );
    const snap = await waitFor("the snapshot in flow context", () =>
      flowContext<{ integrations: Record<string, unknown> }>(rt, tab, "health"),
    );
    expect(Object.keys(snap.integrations)).to.include("pms-webhook-to-ehr/fhir");
    expect(refusals(tab)).to.deep.equal([]);
  });

  it("capability-assessment: the assessment is in the file store", async function () {
    const tab = tabOf("capability-assessment");
    const before = (await flowContext<{ at: string }>(rt, tab, "assessment"))?.at;
    await pressInject(
      rt,
      idOf(tab, (n) => n.type === "inject"),
    );
    const report = await waitFor("a new assessment", async () => {
      const r = await flowContext<{ at: string; ehr: { ok: boolean }; pms: { signedAccess: string } }>(
        rt,
        tab,
        "assessment",
      );
      return r && r.at !== before && r;
    });
    expect(report.ehr.ok).to.equal(true);
    expect(report.pms.signedAccess).to.equal("accepted");
    expect(refusals(tab)).to.deep.equal([]);
  });

  it("no node of any pipeline had its context access refused", function () {
    expect(rt.logs.filter((l) => SYNC_REFUSED.test(l))).to.deep.equal([]);
  });
});
