import { expect } from "chai";
import type { ChargeItem, Encounter, Task } from "@medplum/fhirtypes";
import { LegacyClient } from "../../lib/legacy/client";
import { compileBuiltin } from "../../lib/mapping";
import type { PmsAppointment } from "../../lib/mapping/records";
import type { PmsSimulator } from "../../sandbox/pms/server";
import { startRuntime, type Runtime } from "../support/red-runtime";
import {
  ENCOUNTER_SYSTEM,
  allOf,
  checkPatientReference,
  danglingReferences,
  resolved,
  runLog,
  loadPipeline,
  pressInject,
  queueApi,
  startServices,
  storedBy,
  waitFor,
  type QueueApi,
  type Services,
  type Stored,
} from "./support";

/**
 * examples/pipelines/care-coordination.json in a real Node-RED against the PMS simulator (a schedule over
 * the coming weeks) and the sandbox FHIR server: assertions are on the Encounters and Tasks the
 * EHR holds, the charges the PMS holds and the flow's durable queue (admin API).
 */

const NAME = "care-coordination";
// Runs start at start and when a test presses "every 30 s", never on the flow's own timer.
const FLOW = loadPipeline(NAME).map((n) => (n.id === `${NAME}-every` ? { ...n, repeat: "" } : n));
const TAB = `${NAME}-tab`;
const TASK_SYSTEM = "urn:healthbridge:care-task";
const LEAD_MINUTES: Record<string, number> = {
  "insurance-verification": 24 * 60,
  "patient-reminder": 120,
  "room-preparation": 30,
};

interface Run {
  seq: number;
  outcome: "ok" | "failed" | "skipped";
  code?: string;
  appointments: number;
  watermark?: string;
}

const encounterMap = compileBuiltin("encounter");
const patientMap = compileBuiltin("patient");
const REFERRING = ["Patient", "Encounter", "Task", "ChargeItem"];
const booked = (a: PmsAppointment) =>
  (a.status === "scheduled" || a.status === "confirmed") && Date.parse(a.scheduledTime) > Date.now();

describe("pipeline care-coordination", function () {
  this.timeout(60000);
  let services: Services;
  let pms: PmsSimulator;
  let api: LegacyClient;
  let rt: Runtime;

  const runs = async (): Promise<Run[]> => (await runLog<Run[]>(rt, TAB, "runs")) ?? [];
  const queue = (): QueueApi => queueApi(rt, `${NAME}-store`, "pms-care-appointments");
  const encounters = () => storedBy(services.fhir, "Encounter", ENCOUNTER_SYSTEM);
  const tasksOf = (apptId: string) =>
    (allOf(services.fhir, "Task") as Array<Stored & Task>).filter((t) =>
      t.identifier?.some((i) => i.system === TASK_SYSTEM && i.value!.startsWith(`${apptId}-`)),
    );

  async function runOnce(): Promise<Run> {
    for (let press = 0; press < 10; press++) {
      const last = (await runs()).at(-1)?.seq ?? 0;
      await pressInject(rt, `${NAME}-every`);
      const run = await waitFor("a run", async () => (await runs()).find((r) => r.seq > last));
      if (run.outcome !== "skipped") return run;
    }
    throw new Error("10 presses in a row were skipped: the lease is never released");
  }

  /** A run, and every delivery of what it stored finished (delivered or dead-lettered). */
  async function runAndDeliver(): Promise<Run> {
    const run = await runOnce();
    await queue().drained();
    return run;
  }

  /** Books a visit through the PMS API, as a front desk would. */
  async function book(patientId: string, providerId: string, scheduledTime: string): Promise<PmsAppointment> {
    const res = await api.request({
      method: "POST",
      path: "/appointments",
      body: { patientId, providerId, scheduledTime, duration: 20, reason: "Follow-up" },
    });
    expect(res.status).to.equal(201);
    return res.body as PmsAppointment;
  }

  before(async function () {
    // Records changed in the last hours; a schedule over the next 90 days from today.
    const start = new Date(Date.now() - 6 * 3600_000).toISOString();
    services = await startServices({ pms: { patients: 10, appointments: 16, start } });
    pms = services.pms!;
    api = new LegacyClient({
      baseUrl: pms.url,
      credentials: { apiKey: services.secrets.apiKey, apiSecret: services.secrets.apiSecret },
    });
    // The EHR holds the practice's patients (the PMS pipelines wrote them).
    for (const p of pms.data.patients) {
      await services.fhir.repository.createResource(patientMap.toFhir(p).value as never);
    }
    rt = await startRuntime({ flows: FLOW, credentials: services.credentials(FLOW), env: services.env });
  });

  after(async function () {
    await rt?.stop();
    await api?.close();
    await services?.close();
  });

  it("gives every booked visit ahead a planned Encounter and three Tasks due 24 h, 2 h and 30 min before", async function () {
    const run = await waitFor("the first run", async () =>
      (await runs()).find((r) => r.outcome === "ok" && r.appointments > 0),
    );
    const expected = pms.data.appointments.filter(booked);
    expect(expected.length).to.be.at.least(4);
    expect(run).to.include({ appointments: 16 });
    await queue().drained();
    expect(await queue().stats()).to.include({ deliveredTotal: 16, deadLetters: 0 });

    const stored = encounters();
    expect([...stored.keys()].sort()).to.deep.equal(expected.map((a) => a.id).sort());
    for (const appt of expected) {
      const enc = stored.get(appt.id)! as Stored & Encounter;
      const { id: _id, meta: _meta, ...content } = enc;
      // As mapped, the patient's conditional reference resolved by the EHR to that patient.
      expect(content).to.deep.equal(resolved(services.fhir, encounterMap.toFhir(appt).value));
      await checkPatientReference(services, enc.subject as never, appt.patientId, `Encounter/${enc.id}`);
      const tasks = tasksOf(appt.id);
      expect(tasks.map((t) => t.code?.coding?.[0]?.code).sort()).to.deep.equal(
        Object.keys(LEAD_MINUTES).sort(),
      );
      for (const t of tasks) {
        const lead = LEAD_MINUTES[t.code!.coding![0].code!];
        expect(Date.parse(t.restriction!.period!.end!)).to.equal(
          Date.parse(appt.scheduledTime) - lead * 60000,
        );
        expect(t).to.include({ status: "requested", intent: "order" });
        expect(t.encounter).to.deep.equal({ reference: `Encounter/${enc.id}` });
        expect(t.for?.identifier).to.deep.equal({
          system: "urn:healthbridge:pms:patient",
          value: appt.patientId,
        });
        expect(t.for?.reference).to.equal(enc.subject?.reference);
        expect(t.focus?.identifier).to.deep.equal({
          system: "urn:healthbridge:pms:appointment",
          value: appt.id,
        });
      }
    }
    expect(await danglingReferences(services, REFERRING)).to.deep.equal([]);
  });

  it("posts a completed visit's billable charges to the PMS, each once", async function () {
    const appt = pms.data.appointments.filter(booked)[0];
    const enc = encounters().get(appt.id)!;
    const item = (code: string, value?: number): ChargeItem => ({
      resourceType: "ChargeItem",
      status: "billable",
      code: { coding: [{ system: "http://www.ama-assn.org/go/cpt", code }] },
      subject: (enc as Stored & Encounter).subject!,
      context: { reference: `Encounter/${enc.id}` },
      ...(value === undefined ? {} : { priceOverride: { value, currency: "USD" } }),
    });
    await services.fhir.repository.createResource(item("99213", 125));
    const unpriced = await services.fhir.repository.createResource(item("93000"));
    await pms.completeAppointment(appt.id);

    const run = await runAndDeliver();
    expect(run).to.include({ outcome: "ok", appointments: 1 });
    // The priced charge is posted; the unpriced one makes the visit a dead letter (ids and codes only).
    expect(pms.charges.map((c) => [c.appointmentId, c.patientId, c.code, c.amount])).to.deep.equal([
      [appt.id, appt.patientId, "99213", 125],
    ]);
    const letters = await queue().deadLetters();
    expect(letters.map((l) => [l.code, l.key, l.message])).to.deep.equal([
      ["MAP_REQUIRED", appt.id, "mapping failed at priceOverride.value"],
    ]);
    // Priced in the EHR, then replayed: the missing charge is posted, the other not again.
    await services.fhir.repository.updateResource({
      ...unpriced,
      priceOverride: { value: 60, currency: "USD" },
    });
    expect(await queue().replay({ ids: [letters[0].id] })).to.equal(1);
    await queue().drained();
    expect(pms.charges.map((c) => [c.code, c.amount])).to.have.deep.members([
      ["99213", 125],
      ["93000", 60],
    ]);
    expect(await queue().deadLetters()).to.deep.equal([]);
    // The same completion seen again (e.g. after a restart without a checkpoint): no second charge.
    await pms.completeAppointment(appt.id);
    expect(await runAndDeliver()).to.include({ outcome: "ok", appointments: 1 });
    expect(pms.charges).to.have.length(2);
  });

  it("keeps what staff did with a Task when the visit changes, and moves the Encounter", async function () {
    const appt = pms.data.appointments.filter(booked)[1];
    const task = tasksOf(appt.id).find((t) => t.code?.coding?.[0]?.code === "patient-reminder")!;
    await services.fhir.repository.updateResource({ ...task, status: "completed" });
    const enc = encounters().get(appt.id)!;
    const res = await api.request({
      method: "PATCH",
      path: `/appointments/${appt.id}`,
      body: { status: "confirmed" },
    });
    expect(res.status).to.equal(200);

    // The run may also repeat the appointment the last run ended on (the checkpoint keeps no cursor when a
    // run ends on the record it started after: a repeat, never a loss); repeats change nothing.
    const charged = pms.charges.length;
    const r3 = await runAndDeliver();
    expect(r3).to.include({ outcome: "ok" });
    expect(pms.charges).to.have.length(charged);
    expect(Number(encounters().get(appt.id)!.meta?.versionId)).to.equal(Number(enc.meta?.versionId) + 1);
    const tasks = tasksOf(appt.id);
    expect(tasks).to.have.length(3);
    expect(tasks.find((t) => t.id === task.id)!.status).to.equal("completed");
  });

  it("skips a visit already past, and retries a visit the EHR failed until it is written", async function () {
    const [p1, p2] = pms.data.patients;
    const provider = pms.data.providers[0].id;
    const past = await book(p1.id, provider, new Date(Date.now() - 3 * 3600_000).toISOString());
    const ahead = await book(p2.id, provider, new Date(Date.now() + 3 * 24 * 3600_000).toISOString());
    const injected = services.fhir.stats().faultsInjected;
    services.fhir.faults.next(1, { status: 500 });
    const run = await runAndDeliver();
    expect(run).to.include({ outcome: "ok", appointments: 2 });
    expect(services.fhir.stats().faultsInjected - injected).to.equal(1);
    expect(encounters().has(ahead.id)).to.equal(true);
    expect(encounters().has(past.id)).to.equal(false);
    expect(tasksOf(ahead.id)).to.have.length(3);
    expect(await queue().deadLetters()).to.deep.equal([]);
  });

  it("dead-letters a visit whose patient the EHR does not hold (400), nothing half-written, and a replay plans it once the patient is there", async function () {
    const newcomer = await pms.createPatient({
      firstName: "Teodor",
      lastName: "Abernathy-Kowalczyk",
      dateOfBirth: "1969-07-21",
      gender: "M",
    });
    const visit = await book(
      newcomer.id,
      pms.data.providers[0].id,
      new Date(Date.now() + 5 * 24 * 3600_000).toISOString(),
    );
    expect(await runAndDeliver()).to.include({ outcome: "ok", appointments: 1 });
    const letters = await queue().deadLetters();
    expect(letters.map((l) => [l.code, l.key, l.attempts])).to.deep.equal([["FHIR_HTTP_400", visit.id, 1]]);
    expect(encounters().has(visit.id)).to.equal(false);
    expect(tasksOf(visit.id)).to.deep.equal([]);
    expect(JSON.stringify(letters)).to.not.include(newcomer.lastName);
    expect((await queue().stored<{ payload: PmsAppointment }>(letters[0].id)).payload.id).to.equal(visit.id);

    // Once the patient is in the EHR, the operator's replay plans the visit, linked to that patient.
    await services.fhir.repository.createResource(patientMap.toFhir(newcomer).value as never);
    expect(await queue().replay({ key: visit.id })).to.equal(1);
    await queue().drained();
    const enc = encounters().get(visit.id)! as Stored & Encounter;
    await checkPatientReference(services, enc.subject as never, newcomer.id, `Encounter/${enc.id}`);
    expect(tasksOf(visit.id)).to.have.length(3);
    expect(await queue().deadLetters()).to.deep.equal([]);
    expect(await danglingReferences(services, REFERRING)).to.deep.equal([]);
  });
});
