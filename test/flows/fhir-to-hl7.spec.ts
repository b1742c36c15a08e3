import { expect } from "chai";
import type { Appointment, Patient } from "@medplum/fhirtypes";
import { parseHl7 } from "../../lib/hl7/message";
import { compileBuiltin } from "../../lib/mapping";
import { startHl7Receiver, type Hl7Receiver } from "../../sandbox/hl7/receiver";
import { generatePmsData } from "../../sandbox/pms/data";
import { startRuntime, type Runtime } from "../support/red-runtime";
import {
  allOf,
  danglingReferences,
  expectPatientOf,
  flowContext,
  loadPipeline,
  pressInject,
  queueApi,
  resolved,
  startServices,
  waitFor,
  type QueueApi,
  type Services,
  type Stored,
} from "./support";

/**
 * flows/fhir-to-hl7.json in a real Node-RED: Patients and Appointments written into the sandbox
 * FHIR server go out as ADT and SIU to the sandbox's downstream MLLP receiver. Assertions are on
 * what the receiver got, on the flow's run records and on its durable queue (admin API).
 */

const NAME = "fhir-to-hl7";
// Runs start at start and when a test presses "every 30 s", never on the flow's own timer.
const FLOW = loadPipeline(NAME).map((n) => (n.id === `${NAME}-every` ? { ...n, repeat: "" } : n));
const TAB = `${NAME}-tab`;
const data = generatePmsData({ seed: 9, patients: 4, appointments: 4 });
const patientMap = compileBuiltin("patient");
const appointmentMap = compileBuiltin("appointment");

interface Run {
  seq: number;
  type: "Patient" | "Appointment";
  outcome: string;
  code?: string;
  resources: number;
  watermark?: string;
}

/** MSH-9, PID-3.1 (and the SCH-2.1 of an SIU) of a received message. */
function facts(text: string): { type: string; pid?: string; sch?: string } {
  const m = parseHl7(text);
  const pid = m.segment("PID");
  const sch = m.segment("SCH");
  return {
    type: `${m.header.type}^${m.header.event}`,
    pid: pid ? pid.get(3) : undefined,
    sch: sch ? sch.get(2) : undefined,
  };
}

describe("pipeline fhir-to-hl7", function () {
  this.timeout(60000);
  let services: Services;
  let rt: Runtime;
  let receiver: Hl7Receiver;
  let refuse = new Set<string>();

  const runs = async (): Promise<Run[]> => (await flowContext<Run[]>(rt, TAB, "runs")) ?? [];
  const queue = (): QueueApi => queueApi(rt, `${NAME}-store`, "fhir-to-hl7");

  /** One press: the Patient run and the Appointment run after it. */
  async function sync(): Promise<Run[]> {
    for (;;) {
      const last = (await runs()).at(-1)?.seq ?? 0;
      await pressInject(rt, `${NAME}-every`);
      const got = await waitFor("a Patient and an Appointment run", async () => {
        const r = (await runs()).filter((x) => x.seq > last);
        return (r.some((x) => x.type === "Appointment") || r.some((x) => x.outcome === "failed")) && r;
      });
      if (!got.some((r) => r.outcome === "skipped")) return got;
    }
  }

  const create = <T extends Stored>(resource: Record<string, unknown>): Promise<T> =>
    services.fhir.repository.createResource(resource as never) as Promise<T>;

  before(async function () {
    services = await startServices({ pms: false });
    receiver = await startHl7Receiver({
      answer: (text) => (refuse.size && [...refuse].some((r) => text.includes(r)) ? "AR" : "AA"),
    });
    // Patients and Appointments as the PMS pipelines write them (the patient's reference resolved
    // by the EHR, its PMS identifier beside it), and, for the last one, by PMS identifier only
    // (a logical reference, as another system may write it).
    for (const p of data.patients) await create(patientMap.toFhir(p).value!);
    for (const a of data.appointments.slice(0, 3)) {
      await create(resolved(services.fhir, appointmentMap.toFhir(a).value!));
    }
    const last = appointmentMap.toFhir(data.appointments[3]).value! as unknown as Appointment;
    last.participant = last.participant.map((p) => {
      const { reference: _literal, ...logical } = p.actor ?? {};
      return { ...p, actor: logical };
    });
    await create(last as unknown as Record<string, unknown>);
    rt = await startRuntime({
      flows: FLOW,
      credentials: services.credentials(FLOW),
      env: { ...services.env, HL7_DOWNSTREAM_HOST: "127.0.0.1", HL7_DOWNSTREAM_PORT: String(receiver.port) },
    });
  });

  after(async function () {
    await rt?.stop();
    await receiver?.stop();
    await services?.close();
  });

  it("sends each new Patient as ADT^A28, then each Appointment as SIU with its patient's PID", async function () {
    await receiver.waitFor(8);
    const got = receiver.messages.map((m) => facts(m.text));
    expect(got.slice(0, 4).map((g) => [g.type, g.pid])).to.have.deep.members(
      data.patients.map((p) => ["ADT^A28", p.id]),
    );
    expect(got.slice(4).map((g) => [g.type, g.sch, g.pid])).to.deep.equal(
      data.appointments.map((a) => [
        a.status === "cancelled" ? "SIU^S15" : a.status === "no_show" ? "SIU^S26" : "SIU^S12",
        a.id,
        a.patientId,
      ]),
    );
    const text = receiver.messages[4].text;
    expect(parseHl7(text).segment("PID")!.get(3, 4)).to.equal("PMSPAT");
    expect(parseHl7(text).header.sendingApplication).to.equal("HEALTHBRIDGE");
    // The provider travels as a logical reference (PMS identifier): AIP-3 carries it with PMSPROV.
    const aip = parseHl7(text).segment("AIP")!;
    expect([aip.get(3), aip.get(3, 9)]).to.deep.equal([data.appointments[0].providerId, "PMSPROV"]);
    const stored = allOf(services.fhir, "Appointment");
    for (const a of data.appointments.slice(0, 3)) {
      const appt = stored.find((r) => r.identifier?.some((i) => i.value === a.id))!;
      await expectPatientOf(services, appt, a.patientId);
    }
    expect(await danglingReferences(services, ["Patient", "Appointment"])).to.deep.equal([]);
  });

  it("sends only what changed since, a later version as A31 / S14", async function () {
    await waitFor("the first runs", async () => (await runs()).filter((r) => r.outcome === "ok").length >= 2);
    const quiet = await sync();
    expect(quiet.map((r) => [r.type, r.resources])).to.deep.equal([
      ["Patient", 0],
      ["Appointment", 0],
    ]);
    const before = receiver.messages.length;
    const patient = services.fhir.repository.match({ resourceType: "Patient" } as never)[0] as Stored &
      Patient;
    await services.fhir.repository.updateResource({ ...patient, gender: "other" });
    const appt = services.fhir.repository
      .match({ resourceType: "Appointment" } as never)
      .find((a) => (a as Appointment).status === "booked") as Stored & Appointment;
    await services.fhir.repository.updateResource({ ...appt, comment: "moved to room 4" });
    const changed = await sync();
    expect(changed.map((r) => [r.type, r.resources])).to.deep.equal([
      ["Patient", 1],
      ["Appointment", 1],
    ]);
    await receiver.waitFor(before + 2);
    expect(receiver.messages.slice(before).map((m) => facts(m.text).type)).to.deep.equal([
      "ADT^A31",
      "SIU^S14",
    ]);
  });

  it("keeps a message the downstream refuses for good (AR) as a dead letter and sends the next", async function () {
    const [p1, p2] = data.patients.slice(0, 2);
    const all = services.fhir.repository.match({ resourceType: "Patient" } as never) as Array<
      Stored & Patient
    >;
    const r1 = all.find((p) => p.identifier?.[0].value === p1.id)!;
    const r2 = all.find((p) => p.identifier?.[0].value === p2.id)!;
    refuse = new Set([`${p1.id}^`]);
    const before = receiver.messages.length;
    await services.fhir.repository.updateResource({ ...r1, active: true });
    await services.fhir.repository.updateResource({ ...r2, active: true });
    const [patients] = await sync();
    expect(patients).to.include({ type: "Patient", resources: 2 });
    await receiver.waitFor(before + 2);
    refuse = new Set();
    expect(receiver.messages.slice(before).map((m) => [facts(m.text).pid, m.code])).to.deep.equal([
      [p1.id, "AR"],
      [p2.id, "AA"],
    ]);
    const letters = await waitFor("the dead letter", async () => {
      const l = await queue().deadLetters();
      return l.length === 1 && l;
    });
    expect(letters[0]).to.include({ code: "MLLP_NAK", key: "downstream", attempts: 1 });
    const stored = await queue().stored<{ payload: Patient }>(letters[0].id);
    expect([stored.payload.id, stored.payload.meta?.versionId]).to.deep.equal([r1.id, "3"]);
    // Accepted once fixed downstream: the operator's replay sends it again.
    expect(await queue().replay({ ids: [letters[0].id] })).to.equal(1);
    await receiver.waitFor(before + 3);
    expect(facts(receiver.messages[before + 2].text)).to.include({ type: "ADT^A31", pid: p1.id });
    expect(await queue().deadLetters()).to.deep.equal([]);
  });

  it("keeps what it could not send while the downstream is gone, in order, and sends it once it is back", async function () {
    const port = receiver.port;
    await receiver.stop();
    const [patient, other] = (
      services.fhir.repository.match({ resourceType: "Patient" } as never) as Array<Stored & Patient>
    ).slice(2, 4);
    const mark = (await runs()).filter((r) => r.type === "Patient" && r.outcome === "ok").at(-1)!.watermark;
    await services.fhir.repository.updateResource({ ...patient, active: false });
    await services.fhir.repository.updateResource({ ...other, active: false });
    const [stored] = await sync();
    // Stored, so the checkpoint moves on although nothing could be sent.
    expect(stored).to.include({ type: "Patient", outcome: "ok", resources: 2 });
    expect(stored.watermark).to.not.equal(mark);
    // The first failed and waits for its retry, the second behind it.
    await waitFor("a failed delivery waiting for its retry", async () => {
      const s = await queue().stats();
      return s.depth === 2 && s.inFlight === 0;
    });
    expect(await queue().deadLetters()).to.deep.equal([]);

    receiver = await startHl7Receiver({ port });
    await receiver.waitFor(2, 30000);
    expect(receiver.messages.map((m) => [facts(m.text).type, facts(m.text).pid, m.code])).to.deep.equal([
      ["ADT^A31", patient.identifier![0].value, "AA"],
      ["ADT^A31", other.identifier![0].value, "AA"],
    ]);
    await queue().drained();
  });
});
