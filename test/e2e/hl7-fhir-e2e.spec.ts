import { expect } from "chai";
import { readFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { readAck, type AckInfo } from "../../lib/hl7";
import { startFhirSandbox, type FhirSandbox } from "../../sandbox/fhir/server";
import { hl7ToFhirFlow } from "../support/hl7-fhir-flow";
import { mllpPort } from "../support/mllp-port";
import { startRuntime, type FlowNode, type Runtime } from "../support/red-runtime";

/**
 * End to end in a real Node-RED runtime: mllp-in (ack: flow) -> hl7-fhir (to-fhir) ->
 * fhir-request (transaction) against the sandbox FHIR server -> mllp-out (reply AA); a Catch on
 * hl7-fhir and fhir-request -> mllp-out (reply AE with the error text). The test is the HL7
 * sender: it sends framed messages over TCP and reads the ACKs, then looks at the FHIR server.
 */

const TAB = "e2e-hl7-fhir";
const ROOT = join(__dirname, "..", "..", "..");
const fixture = (name: string): string =>
  readFileSync(join(ROOT, "test", "fixtures", "hl7-fhir", name), "utf8").replace(/\r?\n/g, "\r");

/** A minimal MLLP sender: one connection, one message in flight, the reply frame's text back. */
class MllpSender {
  private socket?: Socket;
  private buffer = Buffer.alloc(0);
  private pending?: { resolve: (text: string) => void; reject: (err: Error) => void };

  async open(port: number): Promise<void> {
    const deadline = Date.now() + 20000;
    for (;;) {
      try {
        this.socket = await new Promise<Socket>((resolve, reject) => {
          const s = connect(port, "127.0.0.1", () => resolve(s));
          s.once("error", reject);
        });
        break;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    this.socket.on("data", (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      const end = this.buffer.indexOf(Buffer.from([0x1c, 0x0d]));
      if (end < 0 || !this.pending) return;
      const start = this.buffer[0] === 0x0b ? 1 : 0;
      const text = this.buffer.toString("utf8", start, end);
      this.buffer = this.buffer.subarray(end + 2);
      const p = this.pending;
      this.pending = undefined;
      p.resolve(text);
    });
    this.socket.on("close", () => this.pending?.reject(new Error("connection closed")));
  }

  send(text: string, timeoutMs = 20000): Promise<AckInfo> {
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no ACK in time")), timeoutMs);
      this.pending = {
        resolve: (t) => {
          clearTimeout(timer);
          resolve(t);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.socket!.write(
        Buffer.concat([Buffer.from([0x0b]), Buffer.from(text, "utf8"), Buffer.from([0x1c, 0x0d])]),
      );
    }).then((reply) => readAck(reply));
  }

  close(): void {
    this.socket?.destroy();
  }
}

function flows(mllpPort: number, fhirUrl: string): FlowNode[] {
  return hl7ToFhirFlow({
    tab: TAB,
    label: "hl7 -> fhir",
    mllpPort,
    fhirUrl,
    systems: JSON.stringify({ "GHH-MRN": "urn:oid:2.16.840.1.113883.19.1000" }),
    timezone: "Europe/Berlin",
  });
}

describe("hl7-fhir end to end: mllp-in -> hl7-fhir -> fhir-request -> mllp-out in Node-RED", function () {
  this.timeout(90000);
  let sandbox: FhirSandbox;
  let runtime: Runtime;
  let sender: MllpSender;

  async function search(query: string): Promise<Array<Record<string, unknown>>> {
    const res = await fetch(`${sandbox.url}/${query}${query.includes("?") ? "&" : "?"}_count=200`);
    expect(res.status, query).to.equal(200);
    const bundle = (await res.json()) as { entry?: Array<{ resource: Record<string, unknown> }> };
    return (bundle.entry ?? []).map((e) => e.resource);
  }

  async function counts(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const type of ["Patient", "Encounter", "Practitioner", "Location", "Appointment"]) {
      out[type] = (await search(type)).length;
    }
    return out;
  }

  before(async () => {
    sandbox = await startFhirSandbox({ port: 0 });
    runtime = await startRuntime({ flows: flows(0, sandbox.url) });
    sender = new MllpSender();
    await sender.open(await mllpPort(runtime, "in"));
  });

  after(async () => {
    sender?.close();
    await runtime?.stop();
    await sandbox?.close();
  });

  it("ADT^A01 is stored as Patient, Encounter, Practitioners and Locations, then acknowledged AA", async () => {
    const ack = await sender.send(fixture("adt-a01-v2.5.1.hl7"));
    expect(ack.code, ack.text).to.equal("AA");
    expect(ack.controlId).to.equal("MSG00001");
    expect(ack.header.receivingApplication).to.equal("ADT1");
    expect(await counts()).to.deep.equal({
      Patient: 1,
      Encounter: 1,
      Practitioner: 2,
      // PV1-3 2000^2012^01^GHH: point of care, room and bed
      Location: 3,
      Appointment: 0,
    });
    const [bed] = await search("Location?identifier=urn:healthbridge:hl7v2:GHH|2000/2012/01");
    const [room] = await search("Location?identifier=urn:healthbridge:hl7v2:GHH|2000/2012");
    const [ward] = await search("Location?identifier=urn:healthbridge:hl7v2:GHH|2000");
    expect((bed.partOf as { reference: string }).reference).to.equal(`Location/${room.id as string}`);
    expect((room.partOf as { reference: string }).reference).to.equal(`Location/${ward.id as string}`);
    const [patient] = await search("Patient?identifier=urn:oid:2.16.840.1.113883.19.1000|100234");
    const [encounter] = await search("Encounter");
    expect((encounter.subject as { reference: string }).reference).to.equal(
      `Patient/${patient.id as string}`,
    );
    expect(encounter.status).to.equal("in-progress");
    expect((encounter.location as Array<{ location: { reference: string } }>)[0].location.reference).to.equal(
      `Location/${bed.id as string}`,
    );
  });

  it("replaying the same message changes nothing but versions (idempotent Bundle)", async () => {
    const before = await counts();
    const ack = await sender.send(fixture("adt-a01-v2.5.1.hl7"));
    expect(ack.code, ack.text).to.equal("AA");
    expect(await counts()).to.deep.equal(before);
  });

  it("A03 for the same visit finishes the same Encounter", async () => {
    const a03 = fixture("adt-a01-v2.5.1.hl7")
      .replace("ADT^A01^ADT_A01|MSG00001", "ADT^A03^ADT_A03|MSG00002")
      .replace("EVN|A01|", "EVN|A03|");
    const ack = await sender.send(a03);
    expect(ack.code, ack.text).to.equal("AA");
    const encounters = await search("Encounter");
    expect(encounters.map((e) => e.status)).to.deep.equal(["finished"]);
  });

  it("SIU^S12 books an Appointment whose participants refer to the stored resources", async () => {
    const ack = await sender.send(fixture("siu-s12-v2.5.1.hl7"));
    expect(ack.code, ack.text).to.equal("AA");
    expect(ack.controlId).to.equal("SIU-1001");
    const [appt] = await search("Appointment");
    expect(appt.status).to.equal("booked");
    const refs = (appt.participant as Array<{ actor?: { reference?: string } }>)
      .map((p) => p.actor?.reference)
      .filter(Boolean) as string[];
    expect(refs.map((r) => r.split("/")[0]).sort()).to.deep.equal(["Location", "Patient", "Practitioner"]);
    expect((await counts()).Patient).to.equal(1);
  });

  it("ADT^A40 links the surviving patient to the merged one, which becomes inactive", async () => {
    const ack = await sender.send(fixture("adt-a40-v2.5.1.hl7"));
    expect(ack.code, ack.text).to.equal("AA");
    const [surviving] = await search("Patient?identifier=urn:oid:2.16.840.1.113883.19.1000|100234");
    const [merged] = await search("Patient?identifier=urn:oid:2.16.840.1.113883.19.1000|100999");
    expect(merged.active).to.equal(false);
    expect(merged.link).to.deep.equal([
      { other: { reference: `Patient/${surviving.id as string}` }, type: "replaced-by" },
    ]);
    expect(surviving.link).to.deep.equal([
      { other: { reference: `Patient/${merged.id as string}` }, type: "replaces" },
    ]);
  });

  it("an unsupported message type is answered AE naming it, and nothing is written", async () => {
    const before = await counts();
    const oru = fixture("adt-a01-v2.5.1.hl7").replace("ADT^A01^ADT_A01|MSG00001", "ORU^R01^ORU_R01|MSG00003");
    const ack = await sender.send(oru);
    expect(ack.code).to.equal("AE");
    expect(ack.controlId).to.equal("MSG00003");
    expect(ack.text).to.contain("ORU^R01 is not supported");
    expect(ack.error?.code).to.not.equal(undefined);
    expect(await counts()).to.deep.equal(before);
  });

  it("a conversion error is answered AE with the field, never the value", async () => {
    const bad = fixture("adt-a01-v2.5.1.hl7")
      .replace("|MSG00001|", "|MSG00004|")
      .replace("|19610615|", "|19611315|");
    const ack = await sender.send(bad);
    expect(ack.code).to.equal("AE");
    expect(ack.text).to.contain("PID-7: not a valid HL7 date/time");
    expect(ack.text).to.not.contain("19611315");
  });

  it("a FHIR server failure is answered AE, and the next message is stored again", async () => {
    sandbox.faults.next(1, { status: 500 });
    const failing = fixture("adt-a04-v2.3.hl7");
    const ack = await sender.send(failing);
    expect(ack.code).to.equal("AE");
    expect(ack.controlId).to.equal("CTL-7781");
    expect(await search("Patient?identifier=urn:healthbridge:hl7v2:CLINIC-A|555444")).to.have.length(0);
    const retry = await sender.send(failing);
    expect(retry.code, retry.text).to.equal("AA");
    expect(await search("Patient?identifier=urn:healthbridge:hl7v2:CLINIC-A|555444")).to.have.length(1);
  });
});
