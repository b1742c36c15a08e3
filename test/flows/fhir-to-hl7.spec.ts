import { expect } from "chai";
import type { Appointment, ChargeItem, Encounter, Patient } from "@medplum/fhirtypes";
import { parseHl7 } from "../../lib/hl7/message";
import { compileBuiltin } from "../../lib/mapping";
import { startHl7Receiver, type Hl7Receiver } from "../../sandbox/hl7/receiver";
import { generatePmsData } from "../../sandbox/pms/data";
import { startRuntime, type Runtime } from "../support/red-runtime";
import {
  allOf,
  danglingReferences,
  expectPatientOf,
  runLog,
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
 * examples/pipelines/fhir-to-hl7.json in a real Node-RED: Patients, Appointments and finished Encounters' billable
 * ChargeItems written into the sandbox FHIR server go out as ADT, SIU and DFT^P03 to the sandbox's
 * downstream MLLP receiver. Assertions are on
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
  type: "Patient" | "Appointment" | "Encounter";
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

  const runs = async (): Promise<Run[]> => (await runLog<Run[]>(rt, TAB, "runs")) ?? [];
  const queue = (): QueueApi => queueApi(rt, `${NAME}-store`, "fhir-to-hl7");

  /** One press: the Patient run, the Appointment run and the Encounter run after them. */
  async function sync(): Promise<Run[]> {
    for (let press = 0; press < 10; press++) {
      const last = (await runs()).at(-1)?.seq ?? 0;
      await pressInject(rt, `${NAME}-every`);
      const got = await waitFor("a Patient, an Appointment and an Encounter run", async () => {
        const r = (await runs()).filter((x) => x.seq > last);
        return (r.some((x) => x.type === "Encounter") || r.some((x) => x.outcome === "failed")) && r;
      });
      if (!got.some((r) => r.outcome === "skipped")) return got;
    }
    throw new Error("10 presses in a row were skipped: the lease is never released");
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
      ["Encounter", 0],
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
      ["Encounter", 0],
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

  /** An Encounter (finished unless said) of the patient whose PMS identifier is `patientKey`, with its PMS visit number. */
  async function visit(
    patientKey: string,
    visitNumber: string,
    status = "finished",
  ): Promise<Stored & Encounter> {
    const patient = (
      services.fhir.repository.match({ resourceType: "Patient" } as never) as Array<Stored & Patient>
    ).find((p) => p.identifier?.[0].value === patientKey)!;
    return create<Stored & Encounter>({
      resourceType: "Encounter",
      status,
      class: { system: "http://terminology.hl7.org/CodeSystem/v3-ActCode", code: "AMB" },
      identifier: [{ system: "urn:healthbridge:pms:encounter", value: visitNumber }],
      subject: { reference: `Patient/${patient.id}` },
      period: { start: "2026-03-02T09:00:00Z", end: "2026-03-02T09:30:00Z" },
    });
  }

  /** A ChargeItem of `encounter` (status billable unless said), coded `code` unless it is text only. */
  function charge(
    encounter: Stored & Encounter,
    code: string | { text: string },
    quantity: number,
    amount: number,
    date: string,
    status = "billable",
  ): Promise<Stored & ChargeItem> {
    return create<Stored & ChargeItem>({
      resourceType: "ChargeItem",
      status,
      code:
        typeof code === "string"
          ? { coding: [{ system: "http://www.ama-assn.org/go/cpt", code, display: `procedure ${code}` }] }
          : code,
      subject: encounter.subject,
      context: { reference: `Encounter/${encounter.id}` },
      occurrenceDateTime: date,
      quantity: { value: quantity },
      priceOverride: { value: amount, currency: "USD" },
    });
  }

  it("sends a finished Encounter's billable ChargeItems as one DFT^P03 with their PID, PV1 and FT1 facts", async function () {
    const patientKey = data.patients[1].id;
    const encounter = await visit(patientKey, "V-1001");
    const charges = [
      await charge(encounter, "99213", 1, 125.5, "2026-03-02"),
      await charge(encounter, "36415", 2, 18, "2026-03-03"),
    ];
    // Not billable yet: left out of the DFT.
    await charge(encounter, "81002", 1, 9, "2026-03-02", "planned");
    // Not finished: its charges are not read.
    const open = await visit(patientKey, "V-1000", "in-progress");
    await charge(open, "99999", 1, 1, "2026-03-02");
    const before = receiver.messages.length;
    const ran = await sync();
    expect(ran.find((r) => r.type === "Encounter")).to.include({ outcome: "ok", resources: 1 });
    await receiver.waitFor(before + 1);
    await queue().drained();
    const dfts = receiver.messages.slice(before).filter((m) => facts(m.text).type === "DFT^P03");
    expect(dfts.map((m) => m.code)).to.deep.equal(["AA"]);
    const dft = parseHl7(dfts[0].text);
    expect([dft.segment("PID")!.get(3), dft.segment("PID")!.get(3, 4)]).to.deep.equal([patientKey, "PMSPAT"]);
    expect([dft.segment("PV1")!.get(19), dft.segment("PV1")!.get(2)]).to.deep.equal(["V-1001", "O"]);
    expect(dft.select("FT1").map((ft1) => [ft1.get(7), ft1.get(10), ft1.get(11), ft1.get(4)])).to.deep.equal(
      charges.map((c) => [
        c.code!.coding![0].code,
        String(c.quantity!.value),
        String(c.priceOverride!.value),
        c.occurrenceDateTime!.replace(/-/g, ""),
      ]),
    );
  });

  it("completes an Encounter with nothing to bill without a message, and sends nothing again when nothing changed", async function () {
    await visit(data.patients[2].id, "V-1002");
    const before = receiver.messages.length;
    const stats = await queue().stats();
    const ran = await sync();
    expect(ran.find((r) => r.type === "Encounter")).to.include({ outcome: "ok", resources: 1 });
    await waitFor("the Encounter's queue entry completed", async () => {
      const s = await queue().stats();
      return s.deliveredTotal === stats.deliveredTotal + 1 && s.depth === 0;
    });
    expect((await queue().stats()).deadLetters).to.equal(stats.deadLetters);
    const quiet = await sync();
    expect(quiet.map((r) => [r.type, r.resources])).to.deep.equal([
      ["Patient", 0],
      ["Appointment", 0],
      ["Encounter", 0],
    ]);
    expect(receiver.messages).to.have.length(before);
  });

  it("keeps a ChargeItem that does not convert (no coded charge) as a dead letter and sends the next visit", async function () {
    const uncoded = await visit(data.patients[3].id, "V-1003");
    await charge(uncoded, { text: "office visit" }, 1, 60, "2026-03-02");
    const next = await visit(data.patients[3].id, "V-1004");
    await charge(next, "99214", 1, 140, "2026-03-04");
    const before = receiver.messages.length;
    const ran = await sync();
    expect(ran.find((r) => r.type === "Encounter")).to.include({ outcome: "ok", resources: 2 });
    await receiver.waitFor(before + 1);
    const letters = await waitFor("the dead letter", async () => {
      const l = await queue().deadLetters();
      return l.length === 1 && l;
    });
    expect(letters[0]).to.include({ code: "HL7_CONVERT", key: "downstream", attempts: 1 });
    const stored = await queue().stored<{ payload: Encounter }>(letters[0].id);
    expect(stored.payload.id).to.equal(uncoded.id);
    const dft = parseHl7(receiver.messages[before].text);
    expect([dft.segment("PV1")!.get(19), dft.segment("FT1")!.get(7)]).to.deep.equal(["V-1004", "99214"]);
    await queue().drained();
    expect(receiver.messages).to.have.length(before + 1);
  });
});
