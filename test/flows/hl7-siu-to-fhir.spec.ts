import { expect } from "chai";
import type { Appointment, Patient, Practitioner } from "@medplum/fhirtypes";
import type { PackError } from "../../lib/errors";
import { MllpClient } from "../../lib/hl7";
import { HL7_SYSTEMS, messagesFromPms } from "../../sandbox/hl7/messages";
import { startHl7Sender, type Hl7Sender } from "../../sandbox/hl7/sender";
import { generatePmsData } from "../../sandbox/pms/data";
import { withMsh } from "../support/msh";
import { mllpPortsByEnv } from "../support/mllp-port";
import { startRuntime, type Runtime } from "../support/red-runtime";
import {
  APPOINTMENT_SYSTEM,
  PATIENT_SYSTEM,
  allOf,
  loadPipeline,
  startServices,
  storedBy,
  type Services,
  type Stored,
} from "./support";

/**
 * examples/pipelines/hl7-siu-to-fhir.json in a real Node-RED: the sandbox HL7 sender sends SIU messages over
 * MLLP, the sandbox FHIR server stores what the flow writes.
 */

const NAME = "hl7-siu-to-fhir";
const FLOW = loadPipeline(NAME);
const PROVIDER_SYSTEM = "urn:healthbridge:pms:provider";
const data = generatePmsData({ seed: 8, patients: 10, appointments: 14 });
const siu = messagesFromPms(data).filter((m) => m.type === "SIU");

describe("pipeline hl7-siu-to-fhir", function () {
  this.timeout(60000);
  let services: Services;
  let rt: Runtime;
  let sender: Hl7Sender;
  let queuePort: number;

  before(async function () {
    services = await startServices({ pms: false });
    rt = await startRuntime({
      flows: FLOW,
      credentials: services.credentials(FLOW),
      env: { ...services.env, HL7_SIU_PORT: "0", HL7_SIU_QUEUE_PORT: "0" },
    });
    const ports = await mllpPortsByEnv(rt, FLOW);
    queuePort = ports.HL7_SIU_QUEUE_PORT;
    sender = await startHl7Sender({ port: ports.HL7_SIU_PORT, intervalMs: 0, retries: 5 });
  });

  after(async function () {
    await sender?.stop();
    await rt?.stop();
    await services?.close();
  });

  it("ships the Systems table the sandbox sender's authorities need", function () {
    const node = FLOW.find((n) => n.type === "hl7-fhir")!;
    expect(JSON.parse(node.systems as string)).to.deep.equal(HL7_SYSTEMS);
  });

  it("stores each booking, change and cancellation as one Appointment, answering AA once stored", async function () {
    for (const m of siu) expect([m.event, (await sender.send(m.text)).code]).to.deep.equal([m.event, "AA"]);
    const appointments = storedBy(services.fhir, "Appointment", APPOINTMENT_SYSTEM);
    const patients = storedBy(services.fhir, "Patient", PATIENT_SYSTEM);
    const practitioners = storedBy(services.fhir, "Practitioner", PROVIDER_SYSTEM);
    expect([...appointments.keys()].sort()).to.deep.equal(data.appointments.map((a) => a.id).sort());
    for (const a of data.appointments) {
      const stored = appointments.get(a.id)! as Stored & Appointment;
      const cancelled = a.status === "cancelled" || a.status === "no_show";
      expect(stored.status, a.id).to.equal(cancelled ? "cancelled" : "booked");
      expect(Date.parse(stored.start!)).to.equal(Date.parse(a.scheduledTime));
      expect(Date.parse(stored.end!)).to.equal(Date.parse(a.scheduledTime) + a.duration * 60000);
      const refs = stored.participant.map((p) => p.actor?.reference);
      const patient = patients.get(a.patientId)! as Stored & Patient;
      const practitioner = practitioners.get(a.providerId)! as Stored & Practitioner;
      expect(refs).to.include.members([`Patient/${patient.id}`, `Practitioner/${practitioner.id}`]);
      // S12, S14 and S15 (or S12, S14) for one visit: one resource, one version per message.
      expect(Number(stored.meta!.versionId)).to.equal(siu.filter((m) => m.appointmentId === a.id).length);
    }
    expect(practitioners.size).to.equal(new Set(data.appointments.map((a) => a.providerId)).size);
  });

  it("answers AR to an ADT message and to one that will never convert (AR: permanent), writing nothing", async function () {
    const count = () => allOf(services.fhir, "Appointment").length + allOf(services.fhir, "Encounter").length;
    const before = count();
    const fresh = messagesFromPms(data);
    const ar = await sender.send(fresh.find((m) => m.type === "ADT")!.text);
    expect([ar.code, ar.text]).to.deep.equal(["AR", "not an SIU message: send ADT to its own port"]);
    const s12 = fresh.find((m) => m.type === "SIU")!.text;
    const bad = s12.replace(/^TQ1\|1\|\|\|\|\|\|\d+[+-]\d{4}\|/m, "TQ1|1||||||20250230093000-0500|");
    expect(bad).to.not.equal(s12);
    const ae = await sender.send(bad);
    expect([ae.code, ae.text]).to.deep.equal(["AR", "HL7_CONVERT"]);
    expect(count()).to.equal(before);
  });

  it("answers AE when the EHR fails, and stores the sender's resend", async function () {
    const fresh = messagesFromPms(data).find((m) => m.type === "SIU")!;
    const text = fresh.text.replace(`${fresh.appointmentId}^PMSAPPT`, "appt-900001^PMSAPPT");
    expect(text).to.not.equal(fresh.text);
    services.fhir.faults.next(1, { status: 503, retryAfter: 0 });
    const ae = await sender.send(text);
    expect([ae.code, ae.text]).to.deep.equal(["AE", "FHIR_HTTP_503"]);
    expect(storedBy(services.fhir, "Appointment", APPOINTMENT_SYSTEM).has("appt-900001")).to.equal(false);
    expect((await sender.send(text)).code).to.equal("AA");
    expect(storedBy(services.fhir, "Appointment", APPOINTMENT_SYSTEM).has("appt-900001")).to.equal(true);
  });

  it("on the queue path, gives an enhanced-mode sender CA once stored, then AA once the EHR has it, or AR for a dead letter", async function () {
    const fresh = messagesFromPms(data).find((m) => m.type === "SIU")!;
    // MSH-15 and MSH-16 AL: a commit ACK and an application ACK always
    const enhanced = (text: string, controlId: string): string =>
      withMsh(text, { 10: controlId, 15: "AL", 16: "AL" });
    const text = enhanced(
      fresh.text.replace(`${fresh.appointmentId}^PMSAPPT`, "appt-900003^PMSAPPT"),
      "SENH0001",
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
      const r = await client.send(text, "SENH0001", "AL");
      expect([r.commit?.code, r.ack.code, r.ack.controlId]).to.deep.equal(["CA", "AA", "SENH0001"]);
      expect(storedBy(services.fhir, "Appointment", APPOINTMENT_SYSTEM).has("appt-900003")).to.equal(true);
      // An SIU without SCH does not convert: CA (stored), then AR once it is a dead letter.
      const broken = enhanced(
        text
          .split("\r")
          .filter((seg) => !seg.startsWith("SCH|"))
          .join("\r"),
        "SENH0002",
      );
      const err = await client.send(broken, "SENH0002", "AL").then(
        () => undefined,
        (e: unknown) => e as PackError,
      );
      expect(err?.code).to.equal("MLLP_NAK");
      expect(err?.details).to.include({ code: "AR", commitCode: "CA" });
    } finally {
      await client.close();
    }
  });
});
