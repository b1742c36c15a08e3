import { expect } from "chai";
import { createConverter } from "../../lib/hl7/fhir";
import { parseHeader, parseHl7 } from "../../lib/hl7/message";
import {
  addMinutesIso,
  chargesForVisit,
  dftFromPms,
  dftMessage,
  HL7_SYSTEMS,
  messagesFromPms,
  v2DateTime,
} from "../../sandbox/hl7/messages";
import { startHl7Receiver } from "../../sandbox/hl7/receiver";
import { startHl7Sender } from "../../sandbox/hl7/sender";
import { generatePmsData } from "../../sandbox/pms/data";
import { APPOINTMENT_SYSTEM, ENCOUNTER_SYSTEM, PATIENT_SYSTEM, waitFor } from "./support";

/**
 * The sandbox HL7 tools the pipelines are tested and demonstrated with: the messages made from
 * the seeded PMS data convert with the pack's converter onto the PMS identifier systems, and the
 * sender and receiver talk MLLP with ACKs.
 */

type Entry = {
  resource: Record<string, unknown> & { resourceType: string };
  request: { method: string; url: string };
};
type Ident = { system?: string; value?: string };

const ENCOUNTER_STATUS: Record<string, string> = { A04: "planned", A01: "in-progress", A03: "finished" };

describe("sandbox HL7 messages, sender and receiver", function () {
  this.timeout(20000);
  const data = generatePmsData({ seed: 3, patients: 15, appointments: 40 });
  const messages = messagesFromPms(data);
  const converter = createConverter({ direction: "to-fhir", systems: { ...HL7_SYSTEMS }, timezone: "UTC" });

  it("tells each visit's story: S12, S14, then S15 or A04, A01, A08 (and A03 when completed)", function () {
    for (const appt of data.appointments) {
      const story = messages.filter((m) => m.appointmentId === appt.id).map((m) => m.event);
      const ended = appt.status === "cancelled" || appt.status === "no_show";
      const expected = ended
        ? ["S12", "S14", "S15"]
        : ["S12", "S14", "A04", "A01", "A08", ...(appt.status === "completed" ? ["A03"] : [])];
      expect(story, appt.id).to.deep.equal(expected);
    }
    expect(new Set(messages.map((m) => parseHeader(m.text).controlId)).size).to.equal(messages.length);
  });

  it("converts every message onto the PMS identifier systems, as the PMS has the record", function () {
    for (const m of messages) {
      const { bundle } = converter.toFhir(m.text);
      const entries = bundle.entry as Entry[];
      const appt = data.appointments.find((a) => a.id === m.appointmentId)!;
      const patient = data.patients.find((p) => p.id === m.patientId)!;
      const pat = entries.find((en) => en.resource.resourceType === "Patient")!.resource as unknown as {
        identifier: Ident[];
        name: Array<{ family: string; given: string[] }>;
        birthDate: string;
      };
      expect(pat.identifier.some((i) => i.system === PATIENT_SYSTEM && i.value === patient.id)).to.equal(
        true,
      );
      expect(pat.birthDate).to.equal(patient.dateOfBirth);
      expect(pat.name[0].family).to.equal(patient.lastName);
      expect(pat.name[0].given[0]).to.equal(patient.firstName);
      if (m.type === "ADT") {
        const enc = entries.find((en) => en.resource.resourceType === "Encounter")!;
        const ids = enc.resource.identifier as Ident[];
        expect(ids.some((i) => i.system === ENCOUNTER_SYSTEM && i.value === appt.id)).to.equal(true);
        if (ENCOUNTER_STATUS[m.event]) expect(enc.resource.status).to.equal(ENCOUNTER_STATUS[m.event]);
        const period = enc.resource.period as { start: string; end?: string };
        expect(Date.parse(period.start)).to.equal(Date.parse(appt.scheduledTime));
        if (m.event === "A03") {
          expect(Date.parse(period.end!)).to.equal(Date.parse(appt.scheduledTime) + appt.duration * 60000);
        }
      } else {
        const ap = entries.find((en) => en.resource.resourceType === "Appointment")!;
        const ids = ap.resource.identifier as Ident[];
        expect(ids.some((i) => i.system === APPOINTMENT_SYSTEM && i.value === appt.id)).to.equal(true);
        expect(ap.resource.status).to.equal(m.event === "S15" ? "cancelled" : "booked");
        expect(Date.parse(ap.resource.start as string)).to.equal(Date.parse(appt.scheduledTime));
        expect(ap.resource.minutesDuration).to.equal(appt.duration);
      }
    }
  });

  it("bills each completed visit once: a DFT^P03 with one FT1 per charge, on the PMS's ids", function () {
    const bills = dftFromPms(data);
    const completed = data.appointments.filter((a) => a.status === "completed");
    expect(completed.length).to.be.above(0);
    expect(bills.map((b) => b.appointmentId)).to.deep.equal(completed.map((a) => a.id));
    let withLab = 0;
    for (const bill of bills) {
      const appt = completed.find((a) => a.id === bill.appointmentId)!;
      const msg = parseHl7(bill.text);
      expect([msg.header.type, msg.header.event, msg.header.structure]).to.deep.equal([
        "DFT",
        "P03",
        "DFT_P03",
      ]);
      expect(msg.get("PID", 3)).to.equal(appt.patientId);
      expect(msg.get("PV1", 19)).to.equal(appt.id);
      const ft1 = msg.segments.filter((s) => s.name === "FT1");
      const charges = chargesForVisit(appt);
      if (charges.length > 1) withLab++;
      expect(
        ft1.map((s) => [
          s.get(1),
          s.get(2),
          s.get(6),
          s.get(7),
          s.get(7, 3),
          s.get(10),
          s.get(11),
          s.get(11, 1, 2),
        ]),
      ).to.deep.equal(
        charges.map((c, i) => [
          String(i + 1),
          c.transactionId,
          "CG",
          c.code,
          "C4",
          String(c.quantity),
          c.amount.toFixed(2),
          "USD",
        ]),
      );
      expect(ft1.every((s) => s.get(4) === v2DateTime(appt.scheduledTime))).to.equal(true);
      expect(ft1.every((s) => s.get(20) === appt.providerId)).to.equal(true);
    }
    expect(withLab, "visits with a lab draw").to.be.above(0);
    expect(new Set(bills.map((b) => parseHeader(b.text).controlId)).size).to.equal(bills.length);
    const parts = { patient: data.patients[0], appointment: completed[0], provider: data.providers[0] };
    expect(() => dftMessage(parts, [])).to.throw(RangeError, /at least one charge/);
  });

  it("writes v2 times with their offset", function () {
    expect(v2DateTime("2025-01-06T09:30:00-05:00")).to.equal("20250106093000-0500");
    expect(v2DateTime("2025-01-06T14:30:00.000Z")).to.equal("20250106143000+0000");
    expect(addMinutesIso("2025-01-06T23:45:00-05:00", 30)).to.equal("2025-01-07T00:15:00-05:00");
    expect(() => v2DateTime("2025-01-06T09:30:00")).to.throw(RangeError);
  });

  it("sends over MLLP on its own timer and records each answer, AA or AE", async function () {
    const receiver = await startHl7Receiver({ answer: (_text, h) => (h.type === "SIU" ? "AE" : "AA") });
    const sender = await startHl7Sender({
      port: receiver.port,
      intervalMs: 10,
      messages: messages.slice(0, 5).map((m) => m.text),
    });
    try {
      await waitFor("five answers", () => sender.acks.length >= 5);
      await sender.stop();
      const got = receiver.messages.slice(0, 5);
      expect(got.map((r) => r.header.controlId)).to.deep.equal(
        messages.slice(0, 5).map((m) => parseHeader(m.text).controlId),
      );
      expect(sender.acks.slice(0, 5).map((a) => [a.type, a.code])).to.deep.equal(
        messages.slice(0, 5).map((m) => [`${m.type}^${m.event}`, m.type === "SIU" ? "AE" : "AA"]),
      );
      expect(sender.acks[0].text).to.equal("refused by the sandbox receiver");
      const stoppedAt = sender.sent;
      await new Promise((r) => setTimeout(r, 50));
      expect(sender.sent).to.equal(stoppedAt);
    } finally {
      await sender.stop();
      await receiver.stop();
    }
  });

  it("records a sender's failure to connect as its code", async function () {
    const receiver = await startHl7Receiver();
    const port = receiver.port;
    await receiver.stop();
    const sender = await startHl7Sender({ port, intervalMs: 0, retries: 1, messages: [messages[0].text] });
    try {
      const ack = await sender.send(messages[0].text);
      expect(ack.code).to.equal("MLLP_CONNECT");
      expect(sender.sent).to.equal(1);
    } finally {
      await sender.stop();
    }
  });

  it("tells the story of the records a source gives, read afresh at each round", async function () {
    const receiver = await startHl7Receiver();
    const live = generatePmsData({ seed: 4, patients: 2, appointments: 1 });
    const first = live.appointments[0].id;
    const sender = await startHl7Sender({
      port: receiver.port,
      intervalMs: 5,
      only: "SIU",
      source: () => live,
    });
    try {
      await waitFor("a first message", () => receiver.messages.length >= 1);
      live.appointments = [{ ...live.appointments[0], id: "appt-later" }];
      await waitFor("a message of the changed record", () =>
        receiver.messages.some((m) => m.text.includes("appt-later")),
      );
      await sender.stop();
      expect(receiver.messages[0].text).to.include(first);
      expect(receiver.messages.every((m) => m.header.type === "SIU")).to.equal(true);
    } finally {
      await sender.stop();
      await receiver.stop();
    }
  });

  it("sends the charges of completed visits when asked for DFT", async function () {
    const receiver = await startHl7Receiver();
    const sender = await startHl7Sender({
      port: receiver.port,
      intervalMs: 5,
      only: "DFT",
      data: { seed: 2 },
    });
    try {
      await waitFor("three answers", () => sender.acks.filter((a) => a.code === "AA").length >= 3);
      await sender.stop();
      expect(new Set(receiver.messages.map((m) => `${m.header.type}^${m.header.event}`))).to.deep.equal(
        new Set(["DFT^P03"]),
      );
    } finally {
      await sender.stop();
      await receiver.stop();
    }
  });

  it("sends one family only when asked, e.g. one sender per listener port", async function () {
    const receiver = await startHl7Receiver();
    const sender = await startHl7Sender({
      port: receiver.port,
      intervalMs: 5,
      only: "SIU",
      data: { seed: 2 },
    });
    try {
      await waitFor("twelve answers", () => sender.acks.filter((a) => a.code === "AA").length >= 12);
      await sender.stop();
      expect(new Set(receiver.messages.map((m) => m.header.type))).to.deep.equal(new Set(["SIU"]));
      // A message still in flight when the sender stopped ends MLLP_CLOSED; every answered one is an SIU's AA.
      const answered = sender.acks.filter((a) => !a.code.startsWith("MLLP_"));
      expect(answered.length).to.be.at.least(12);
      expect(answered.every((a) => a.code === "AA" && a.type.startsWith("SIU^"))).to.equal(true);
    } finally {
      await sender.stop();
      await receiver.stop();
    }
  });
});
