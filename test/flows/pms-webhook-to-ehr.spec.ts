import { expect } from "chai";
import { compileBuiltin } from "../../lib/mapping";
import type { PmsAppointment, PmsPatient } from "../../lib/mapping/records";
import type { PmsSimulator } from "../../sandbox/pms/server";
import { startRuntime, type Runtime } from "../support/red-runtime";
import {
  APPOINTMENT_SYSTEM,
  PATIENT_SYSTEM,
  danglingReferences,
  expectPatientOf,
  loadPipeline,
  logLinesWith,
  queueApi,
  resolved,
  startServices,
  storedBy,
  webhookHeaders,
  withoutServerFields,
  waitFor,
  type QueueApi,
  type QueueLetter,
  type Services,
} from "./support";

/**
 * examples/pipelines/pms-webhook-to-ehr.json in a real Node-RED, with the PMS simulator sending signed
 * webhooks to it and the sandbox FHIR server behind it: assertions are on what the EHR holds
 * and on the dead letters of the flow's durable queue, read and replayed through the admin API.
 */

const NAME = "pms-webhook-to-ehr";
const FLOW = loadPipeline(NAME);

/** A dead letter with what the stored event says, read one message at a time as an operator would. */
type DeadEvent = QueueLetter & {
  eventType?: string;
  resourceType?: string;
  resourceId?: string;
  deliveryId?: string;
};

const patientMap = compileBuiltin("patient");
const appointmentMap = compileBuiltin("appointment");

describe("pipeline pms-webhook-to-ehr", function () {
  this.timeout(60000);
  let services: Services;
  let pms: PmsSimulator;
  let rt: Runtime;

  const queue = (): QueueApi => queueApi(rt, `${NAME}-store`, "pms-webhooks");
  const deadLetters = (): Promise<QueueLetter[]> => queue().deadLetters();
  const replay = (filter?: Record<string, unknown>): Promise<number> => queue().replay(filter);

  const deadEvents = async (): Promise<DeadEvent[]> =>
    Promise.all(
      (await deadLetters()).map(async (letter) => {
        const stored = await queue().stored<{
          topic?: string;
          payload?: { resourceType?: string; resourceId?: string };
          webhook?: { id?: string };
        }>(letter.id);
        return {
          ...letter,
          eventType: stored.topic,
          resourceType: stored.payload?.resourceType,
          resourceId: stored.payload?.resourceId,
          deliveryId: stored.webhook?.id,
        };
      }),
    );

  /** The simulator's webhooks, signed pms-hmac, to the pipeline's route. */
  const webhooksToRuntime = (): void =>
    pms.configureWebhook({
      url: `${rt.url}/pms/webhooks`,
      scheme: "pms-hmac",
      secret: services.secrets.webhookSecret,
      maxAttempts: 2,
      backoffMs: 100,
    });

  before(async function () {
    services = await startServices({ pms: { patients: 12, appointments: 24 } });
    pms = services.pms!;
    rt = await startRuntime({ flows: FLOW, credentials: services.credentials(FLOW), env: services.env });
    webhooksToRuntime();
  });

  after(async function () {
    await rt?.stop();
    await services?.close();
  });

  it("writes every patient and appointment the PMS announces into the EHR, once, as the PMS has it", async function () {
    const announced = await Promise.all(
      pms.data.patients.map((p) => pms.emit("patient.updated", structuredClone(p))),
    );
    const patients = await waitFor("every patient in the EHR", () => {
      const m = storedBy(services.fhir, "Patient", PATIENT_SYSTEM);
      return m.size === pms.data.patients.length && m;
    });
    announced.push(
      ...(await Promise.all(
        pms.data.appointments.map((a) => pms.emit("appointment.scheduled", structuredClone(a))),
      )),
    );
    expect(announced.every((r) => r?.delivered && r.status === 202)).to.equal(true);
    const appointments = await waitFor("every appointment in the EHR", () => {
      const m = storedBy(services.fhir, "Appointment", APPOINTMENT_SYSTEM);
      return m.size === pms.data.appointments.length && m;
    });
    for (const p of pms.data.patients) {
      expect(withoutServerFields(patients.get(p.id)!)).to.deep.equal(patientMap.toFhir(p).value);
    }
    // As mapped, with the patient's conditional reference resolved by the EHR to that patient.
    for (const a of pms.data.appointments) {
      const stored = appointments.get(a.id)!;
      expect(withoutServerFields(stored)).to.deep.equal(
        resolved(services.fhir, appointmentMap.toFhir(a).value),
      );
      await expectPatientOf(services, stored, a.patientId);
    }
    expect(await danglingReferences(services, ["Patient", "Appointment"])).to.deep.equal([]);
    expect(await deadLetters()).to.deep.equal([]);
  });

  it("writes a later change over the same resource, and a repeated delivery only once", async function () {
    const target: PmsPatient = pms.data.patients[3];
    const before = storedBy(services.fhir, "Patient", PATIENT_SYSTEM).get(target.id)!;
    await pms.updatePatient(target.id, { lastName: "Quennell-Abara" });
    const after = await waitFor("the new name in the EHR", () => {
      const p = storedBy(services.fhir, "Patient", PATIENT_SYSTEM).get(target.id);
      return (p as { name?: Array<{ family?: string }> })?.name?.[0]?.family === "Quennell-Abara" && p;
    });
    expect(after.id).to.equal(before.id);
    expect(Number(after.meta?.versionId)).to.equal(Number(before.meta?.versionId) + 1);

    // The same signed bytes twice, as a sender retrying after a lost reply: the second is a duplicate.
    const appt: PmsAppointment = pms.data.appointments[5];
    const body = Buffer.from(
      JSON.stringify({
        eventType: "appointment.scheduled",
        resourceType: "appointment",
        resourceId: appt.id,
        timestamp: new Date().toISOString(),
        data: appt,
      }),
    );
    const headers = webhookHeaders(services.secrets.webhookSecret, body);
    const version = () =>
      Number(storedBy(services.fhir, "Appointment", APPOINTMENT_SYSTEM).get(appt.id)!.meta?.versionId);
    const v0 = version();
    const first = await fetch(`${rt.url}/pms/webhooks`, { method: "POST", headers, body });
    expect(first.status).to.equal(202);
    await waitFor("the redelivered appointment written", () => version() === v0 + 1);
    const second = await fetch(`${rt.url}/pms/webhooks`, { method: "POST", headers, body });
    expect(second.status).to.equal(202);
    // A marker event after the duplicate: once it is written, the duplicate has had its chance.
    await pms.updatePatient(pms.data.patients[0].id, { phone: "(617) 555-0101" });
    await waitFor("the marker written", () => {
      const p = storedBy(services.fhir, "Patient", PATIENT_SYSTEM).get(pms.data.patients[0].id) as {
        telecom?: Array<{ system?: string; value?: string }>;
      };
      return p.telecom?.some((t) => t.system === "phone" && t.value === "(617) 555-0101");
    });
    expect(version()).to.equal(v0 + 1);
  });

  it("refuses a delivery with a bad signature (401) and writes nothing", async function () {
    const appt = pms.data.appointments[7];
    const v0 = storedBy(services.fhir, "Appointment", APPOINTMENT_SYSTEM).get(appt.id)!.meta?.versionId;
    const body = Buffer.from(
      JSON.stringify({
        eventType: "appointment.completed",
        resourceType: "appointment",
        resourceId: appt.id,
      }),
    );
    const res = await fetch(`${rt.url}/pms/webhooks`, {
      method: "POST",
      headers: webhookHeaders("not-the-secret", body),
      body,
    });
    expect(res.status).to.equal(401);
    expect(storedBy(services.fhir, "Appointment", APPOINTMENT_SYSTEM).get(appt.id)!.meta?.versionId).to.equal(
      v0,
    );
    expect(await deadLetters()).to.deep.equal([]);
  });

  it("dead-letters an appointment whose patient the EHR does not hold (400), and a replay links it once the patient is written", async function () {
    pms.configureWebhook(undefined);
    const newcomer = await pms.createPatient({
      firstName: "Ilse",
      lastName: "Marchetti-Owusu",
      dateOfBirth: "1977-11-05",
      gender: "F",
    });
    const appt: PmsAppointment = {
      ...structuredClone(pms.data.appointments[0]),
      id: "appt-900001",
      patientId: newcomer.id,
    };
    pms.data.appointments.push(appt);
    webhooksToRuntime();
    // And one whose patient the EHR holds twice (a second Patient with the same PMS identifier).
    const twinned = pms.data.appointments[1];
    const twin = await services.fhir.repository.createResource({
      resourceType: "Patient",
      identifier: [{ system: PATIENT_SYSTEM, value: twinned.patientId }],
    } as never);
    const twinnedVersion = storedBy(services.fhir, "Appointment", APPOINTMENT_SYSTEM).get(twinned.id)!.meta
      ?.versionId;
    await pms.emit("appointment.scheduled", structuredClone(appt));
    await pms.emit("appointment.scheduled", structuredClone(twinned));
    await waitFor("the appointments dead-lettered", async () => (await deadLetters()).length === 2);
    const letters = await deadEvents();
    const letter = letters.find((l) => l.resourceId === appt.id)!;
    const ambiguous = letters.find((l) => l.resourceId === twinned.id)!;
    expect(ambiguous).to.include({
      code: "FHIR_HTTP_412",
      attempts: 1,
      key: twinned.patientId,
      resourceType: "appointment",
      resourceId: twinned.id,
    });
    expect(
      storedBy(services.fhir, "Appointment", APPOINTMENT_SYSTEM).get(twinned.id)!.meta?.versionId,
    ).to.equal(twinnedVersion);
    services.fhir.repository.delete("Patient", (twin as { id: string }).id);
    expect(letter).to.include({
      code: "FHIR_HTTP_400",
      attempts: 1,
      key: newcomer.id,
      resourceType: "appointment",
      resourceId: appt.id,
    });
    // The transaction wrote nothing: no Appointment, no Patient conjured up.
    expect(storedBy(services.fhir, "Appointment", APPOINTMENT_SYSTEM).has(appt.id)).to.equal(false);
    expect(storedBy(services.fhir, "Patient", PATIENT_SYSTEM).has(newcomer.id)).to.equal(false);

    await pms.updatePatient(newcomer.id, { phone: "(617) 555-0177" });
    await waitFor("the patient in the EHR", () =>
      storedBy(services.fhir, "Patient", PATIENT_SYSTEM).has(newcomer.id),
    );
    expect(await replay({ ids: [letter.id, ambiguous.id] })).to.equal(2);
    const stored = await waitFor("the appointment in the EHR", () =>
      storedBy(services.fhir, "Appointment", APPOINTMENT_SYSTEM).get(appt.id),
    );
    await expectPatientOf(services, stored, newcomer.id);
    expect(await deadLetters()).to.deep.equal([]);
    expect(await danglingReferences(services, ["Patient", "Appointment"])).to.deep.equal([]);
  });

  it("retries what may pass, keeps what will not as dead letters without record data, and a replay writes them once fixed", async function () {
    const fhirBefore = storedBy(services.fhir, "Patient", PATIENT_SYSTEM).size;
    // A record the PMS no longer has: the fetch answers 404.
    const ghost = { ...structuredClone(pms.data.patients[0]), id: "pat-99999" };
    await pms.emit("patient.updated", ghost);
    // A record that does not map: 30 February.
    const bad = await pms.createPatient({
      firstName: "Oriane",
      lastName: "Vasquez-Thornbury",
      dateOfBirth: "1990-02-30",
      gender: "F",
    });
    // The EHR failing once: the upsert is answered 500, which the queue retries.
    services.fhir.faults.next(1, { status: 500 });
    await pms.completeAppointment(pms.data.appointments[2].id);
    await waitFor("the completed appointment in the EHR after a retry", () => {
      const a = storedBy(services.fhir, "Appointment", APPOINTMENT_SYSTEM).get(pms.data.appointments[2].id);
      return (a as { status?: string })?.status === "fulfilled";
    });

    await waitFor("two dead letters", async () => (await deadLetters()).length >= 2);
    const letters = await deadLetters();
    const events = await deadEvents();
    const byCode = new Map(events.map((l) => [l.code, l]));
    expect([...byCode.keys()].sort()).to.deep.equal(["LEGACY_HTTP_404", "MAP_VALIDATE"]);
    expect(byCode.get("LEGACY_HTTP_404")).to.include({
      eventType: "patient.updated",
      resourceType: "patient",
      resourceId: "pat-99999",
      key: "pat-99999",
      attempts: 1,
    });
    expect(byCode.get("MAP_VALIDATE")).to.include({
      resourceId: bad.id,
      message: "mapping failed at dateOfBirth",
    });
    for (const l of events) expect(l.deliveryId).to.match(/^sig:/);
    // Nothing half-written, and no record data in the dead-letter list or the log.
    expect(storedBy(services.fhir, "Patient", PATIENT_SYSTEM).has(bad.id)).to.equal(false);
    expect(storedBy(services.fhir, "Patient", PATIENT_SYSTEM).size).to.equal(fhirBefore);
    const phi = [bad.firstName, bad.lastName, bad.dateOfBirth, ghost.lastName];
    expect(JSON.stringify(letters)).to.not.match(new RegExp(phi.join("|")));
    expect(logLinesWith(rt, phi)).to.deep.equal([]);

    // Fixed at the source, then every dead letter replayed: the fixable record is written, the ghost dies again.
    pms.data.patients.find((p) => p.id === bad.id)!.dateOfBirth = "1990-02-28";
    expect(await replay()).to.equal(2);
    await waitFor("the fixed patient in the EHR", () =>
      storedBy(services.fhir, "Patient", PATIENT_SYSTEM).has(bad.id),
    );
    const after = await waitFor("the ghost listed again", async () => {
      const l = await deadEvents();
      return l.length === 1 && l;
    });
    expect(after[0]).to.include({ code: "LEGACY_HTTP_404", resourceId: "pat-99999" });
    expect(await danglingReferences(services, ["Patient", "Appointment"])).to.deep.equal([]);
  });
});
