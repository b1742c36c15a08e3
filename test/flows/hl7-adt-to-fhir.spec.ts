import { expect } from "chai";
import type { Encounter, Patient } from "@medplum/fhirtypes";
import type { PackError } from "../../lib/errors";
import { MllpClient } from "../../lib/hl7";
import { createConverter } from "../../lib/hl7/fhir";
import { HL7_SYSTEMS, messagesFromPms } from "../../sandbox/hl7/messages";
import { startHl7Sender, type Hl7Sender } from "../../sandbox/hl7/sender";
import { generatePmsData } from "../../sandbox/pms/data";
import { withMsh } from "../support/msh";
import { mllpPortsByEnv } from "../support/mllp-port";
import { startRuntime, type Runtime } from "../support/red-runtime";
import {
  ENCOUNTER_SYSTEM,
  PATIENT_SYSTEM,
  allOf,
  loadPipeline,
  logLinesWith,
  startServices,
  storedBy,
  type Services,
  type Stored,
} from "./support";

/**
 * examples/pipelines/hl7-adt-to-fhir.json in a real Node-RED: the sandbox HL7 sender sends ADT messages over
 * MLLP, the sandbox FHIR server stores what the flow writes. Assertions: what the EHR holds and
 * what each message was answered.
 */

const NAME = "hl7-adt-to-fhir";
const FLOW = loadPipeline(NAME);
const data = generatePmsData({ seed: 5, patients: 10, appointments: 12 });
const story = messagesFromPms(data);
const adt = story.filter((m) => m.type === "ADT");
const converter = createConverter({ direction: "to-fhir", systems: { ...HL7_SYSTEMS } });

describe("pipeline hl7-adt-to-fhir", function () {
  this.timeout(60000);
  let services: Services;
  let rt: Runtime;
  let sender: Hl7Sender;
  let queued: Hl7Sender;
  let queuePort: number;

  before(async function () {
    services = await startServices({ pms: false });
    rt = await startRuntime({
      flows: FLOW,
      credentials: services.credentials(FLOW),
      env: { ...services.env, HL7_ADT_PORT: "0", HL7_ADT_QUEUE_PORT: "0" },
    });
    const ports = await mllpPortsByEnv(rt, FLOW);
    queuePort = ports.HL7_ADT_QUEUE_PORT;
    sender = await startHl7Sender({ port: ports.HL7_ADT_PORT, intervalMs: 0, retries: 5 });
    queued = await startHl7Sender({ port: queuePort, intervalMs: 0, retries: 5 });
  });

  after(async function () {
    await queued?.stop();
    await sender?.stop();
    await rt?.stop();
    await services?.close();
  });

  it("ships the Systems table the sandbox sender's authorities need", function () {
    const node = FLOW.find((n) => n.type === "hl7-fhir")!;
    expect(JSON.parse(node.systems as string)).to.deep.equal(HL7_SYSTEMS);
  });

  it("stores each visit's patient and encounter, answering AA only once stored", async function () {
    for (const m of adt) {
      const ack = await sender.send(m.text);
      expect([m.event, ack.code]).to.deep.equal([m.event, "AA"]);
    }
    const patients = storedBy(services.fhir, "Patient", PATIENT_SYSTEM);
    const encounters = storedBy(services.fhir, "Encounter", ENCOUNTER_SYSTEM);
    const visits = [...new Set(adt.map((m) => m.appointmentId))];
    expect([...encounters.keys()].sort()).to.deep.equal(visits.sort());
    expect([...patients.keys()].sort()).to.deep.equal([...new Set(adt.map((m) => m.patientId))].sort());
    for (const id of visits) {
      const last = adt.filter((m) => m.appointmentId === id).at(-1)!;
      const expected = converter
        .toFhir(last.text)
        .bundle.entry!.find((e) => e.resource!.resourceType === "Encounter")!
        .resource as unknown as Encounter;
      const enc = encounters.get(id)! as Stored & Encounter;
      expect(enc.status).to.equal(expected.status);
      expect(enc.period).to.deep.equal(expected.period);
      const patient = patients.get(last.patientId)! as Stored & Patient;
      expect(enc.subject).to.deep.equal({ reference: `Patient/${patient.id}` });
    }
    const completed = data.appointments.find((a) => a.status === "completed" && visits.includes(a.id))!;
    expect(encounters.get(completed.id)!).to.include({ status: "finished" });
    // No patient data in Node-RED's log.
    const names = data.patients.flatMap((p) => [p.lastName, p.firstName]);
    expect(logLinesWith(rt, names)).to.deep.equal([]);
  });

  it("answers a repeated message AA without writing it again", async function () {
    const m = adt[0];
    const before = storedBy(services.fhir, "Patient", PATIENT_SYSTEM).get(m.patientId)!.meta!.versionId;
    expect((await sender.send(m.text)).code).to.equal("AA");
    expect(storedBy(services.fhir, "Patient", PATIENT_SYSTEM).get(m.patientId)!.meta!.versionId).to.equal(
      before,
    );
  });

  it("answers AR to an SIU message and to one that will never convert (AR: permanent), writing nothing", async function () {
    const count = () => allOf(services.fhir, "Patient").length + allOf(services.fhir, "Encounter").length;
    const before = count();
    const siu = story.find((m) => m.type === "SIU")!;
    const ar = await sender.send(siu.text);
    expect([ar.code, ar.text]).to.deep.equal(["AR", "not an ADT message: send SIU to its own port"]);
    expect(allOf(services.fhir, "Appointment")).to.deep.equal([]);

    const fresh = messagesFromPms(data).filter((m) => m.type === "ADT");
    const bad = fresh[0].text.replace(/\|(\d{8})\|([MFOU])\|/, "|19610230|$2|");
    expect(bad).to.not.equal(fresh[0].text);
    const ae = await sender.send(bad);
    expect([ae.code, ae.text]).to.deep.equal(["AR", "HL7_CONVERT"]);
    expect(count()).to.equal(before);
  });

  it("answers AE when the EHR fails, and stores the sender's resend", async function () {
    // A visit the EHR has not seen (fresh control IDs, another visit number).
    const fresh = messagesFromPms(data).find((x) => x.type === "ADT")!;
    const m = { ...fresh, appointmentId: "appt-900001" };
    m.text = fresh.text.replace(`${fresh.appointmentId}^^^PMSVISIT`, "appt-900001^^^PMSVISIT");
    expect(m.text).to.not.equal(fresh.text);
    services.fhir.faults.next(1, { status: 500 });
    const ae = await sender.send(m.text);
    expect([ae.code, ae.text]).to.deep.equal(["AE", "FHIR_HTTP_500"]);
    expect(storedBy(services.fhir, "Encounter", ENCOUNTER_SYSTEM).has(m.appointmentId)).to.equal(false);
    expect((await sender.send(m.text)).code).to.equal("AA");
    expect(storedBy(services.fhir, "Encounter", ENCOUNTER_SYSTEM).has(m.appointmentId)).to.equal(true);
  });

  it("on the queue path, answers AA once stored while the EHR fails, writes the visit after retries, and keeps what does not convert as a dead letter", async function () {
    const fresh = messagesFromPms(data).find((x) => x.type === "ADT")!;
    const m = { ...fresh, appointmentId: "appt-900002" };
    m.text = fresh.text.replace(`${fresh.appointmentId}^^^PMSVISIT`, "appt-900002^^^PMSVISIT");
    services.fhir.faults.next(2, { status: 503 });
    const aa = await queued.send(m.text);
    expect(aa.code).to.equal("AA");
    expect(storedBy(services.fhir, "Encounter", ENCOUNTER_SYSTEM).has(m.appointmentId)).to.equal(false);
    const deadline = Date.now() + 15000;
    while (!storedBy(services.fhir, "Encounter", ENCOUNTER_SYSTEM).has(m.appointmentId)) {
      if (Date.now() > deadline) throw new Error("the queued visit was not written");
      await new Promise((r) => setTimeout(r, 50));
    }
    // A birth date of 30 February does not convert: AA (stored), then a dead letter at once.
    const segments = m.text.replace(/\|(\d{8})\|([MFOU])\|/, "|19610230|$2|").split("\r");
    const msh = segments[0].split("|");
    msh[9] = "BROKEN0001"; // a new MSH-10: a repeated control id would be answered as a duplicate
    const broken = [msh.join("|"), ...segments.slice(1)].join("\r");
    expect(broken).to.not.equal(m.text);
    expect((await queued.send(broken)).code).to.equal("AA");
    type Listing = { letters: Array<{ code: string; attempts: number }> };
    let letters: Listing["letters"] = [];
    while (letters.length === 0) {
      if (Date.now() > deadline + 10000) throw new Error("no dead letter");
      letters = (await rt.getJson<Listing>(`/pms-ehr/queues/${NAME}-messages/hl7-adt/dead`)).letters;
      if (letters.length === 0) await new Promise((r) => setTimeout(r, 50));
    }
    expect(letters).to.have.length(1);
    expect(letters[0].code).to.equal("HL7_CONVERT");
    expect(letters[0].attempts).to.equal(1);
    expect(logLinesWith(rt, [m.appointmentId])).to.deep.equal([]);
  });

  it("on the queue path, gives an enhanced-mode sender CA once stored, then AA once the EHR has it, or AR for a dead letter", async function () {
    const fresh = messagesFromPms(data).find((x) => x.type === "ADT")!;
    // MSH-15 and MSH-16 AL: a commit ACK and an application ACK always
    const enhanced = (text: string, controlId: string): string =>
      withMsh(text, { 10: controlId, 15: "AL", 16: "AL" });
    const text = enhanced(
      fresh.text.replace(`${fresh.appointmentId}^^^PMSVISIT`, "appt-900003^^^PMSVISIT"),
      "ENH0001",
    );
    const client = new MllpClient({
      host: "127.0.0.1",
      port: queuePort,
      timeoutMs: 5000,
      retries: 0,
      queueSize: 10,
      appAckTimeoutMs: 20000,
    });
    try {
      services.fhir.faults.next(1, { status: 503 });
      const r = await client.send(text, "ENH0001", "AL");
      expect([r.commit?.code, r.ack.code, r.ack.controlId]).to.deep.equal(["CA", "AA", "ENH0001"]);
      expect(storedBy(services.fhir, "Encounter", ENCOUNTER_SYSTEM).has("appt-900003")).to.equal(true);
      const broken = enhanced(text.replace(/\|(\d{8})\|([MFOU])\|/, "|19610230|$2|"), "ENH0002");
      const err = await client.send(broken, "ENH0002", "AL").then(
        () => undefined,
        (e: unknown) => e as PackError,
      );
      expect(err?.code).to.equal("MLLP_NAK");
      expect(err?.details).to.include({ code: "AR", commitCode: "CA", text: "HL7_CONVERT" });
    } finally {
      await client.close();
    }
  });
});
