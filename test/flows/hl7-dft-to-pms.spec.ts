import { expect } from "chai";
import { chargesForVisit, dftFromPms, HL7_SYSTEMS } from "../../sandbox/hl7/messages";
import { startHl7Sender, type Hl7Sender } from "../../sandbox/hl7/sender";
import type { PmsSimulator } from "../../sandbox/pms/server";
import { withMsh } from "../support/msh";
import { mllpPortsByEnv } from "../support/mllp-port";
import { startRuntime, type Runtime } from "../support/red-runtime";
import { loadPipeline, startServices, type Services } from "./support";

/**
 * examples/pipelines/hl7-dft-to-pms.json in a real Node-RED: the sandbox HL7 sender sends DFT^P03 charges of the
 * PMS's completed visits over MLLP, the PMS simulator receives what the flow posts.
 */

const NAME = "hl7-dft-to-pms";
const FLOW = loadPipeline(NAME);

describe("pipeline hl7-dft-to-pms", function () {
  this.timeout(60000);
  let services: Services;
  let pms: PmsSimulator;
  let rt: Runtime;
  let sender: Hl7Sender;

  before(async function () {
    services = await startServices({ pms: { seed: 11, patients: 12, appointments: 30 } });
    pms = services.pms!;
    rt = await startRuntime({
      flows: FLOW,
      credentials: services.credentials(FLOW),
      env: { ...services.env, HL7_DFT_PORT: "0" },
    });
    const { HL7_DFT_PORT: port } = await mllpPortsByEnv(rt, FLOW);
    sender = await startHl7Sender({ port, intervalMs: 0, retries: 0, ackTimeoutMs: 30000 });
  });

  after(async function () {
    await sender?.stop();
    await rt?.stop();
    await services?.close();
  });

  /** Fresh messages (new control IDs) for the completed visits. */
  const bills = () => dftFromPms(pms.data);
  let sent: string[] = [];
  const chargeKeys = () => pms.charges.map((c) => `${c.appointmentId}|${c.code}`).sort();

  it("ships the Systems table the sandbox sender's authorities need", function () {
    const node = FLOW.find((n) => n.type === "hl7-fhir")!;
    expect(JSON.parse(node.systems as string)).to.deep.equal(HL7_SYSTEMS);
  });

  it("posts one PMS charge per FT1 of each completed visit, answering AA once the PMS has them all", async function () {
    const all = bills();
    sent = all.map((b) => b.text);
    expect(all.length).to.be.above(3);
    for (const bill of all) {
      const ack = await sender.send(bill.text);
      const expected = chargesForVisit(pms.data.appointments.find((a) => a.id === bill.appointmentId)!);
      expect([bill.appointmentId, ack.code, ack.text]).to.deep.equal([
        bill.appointmentId,
        "AA",
        `charges posted: ${expected.length}`,
      ]);
    }
    const wanted = all.flatMap((bill) => {
      const appt = pms.data.appointments.find((a) => a.id === bill.appointmentId)!;
      return chargesForVisit(appt).map((c) => ({
        patientId: appt.patientId,
        appointmentId: appt.id,
        code: c.code,
        description: c.description,
        amount: c.amount,
        currency: c.currency,
      }));
    });
    expect(pms.charges.map(({ id: _id, postedAt: _at, ...c }) => c)).to.have.deep.members(wanted);
    expect(pms.charges).to.have.length(wanted.length);
  });

  it("never charges twice: a repeated message gets its first ACK again, a resend with a new control ID posts nothing new", async function () {
    const before = chargeKeys();
    const posts = () => pms.stats().byRoute["POST /charges"];
    const postsBefore = posts();
    const repeat = await sender.send(sent[0]);
    expect(repeat.code).to.equal("AA");
    expect(posts(), "a repeat is answered without posting").to.equal(postsBefore);
    for (const bill of bills()) expect((await sender.send(bill.text)).code).to.equal("AA");
    expect(chargeKeys()).to.deep.equal(before);
  });

  it("answers AE while the PMS fails a charge, keeping the charges it took, and the resend completes the bill once", async function () {
    const lab = bills().find((b) => b.text.includes("|36415^"));
    expect(lab, "a visit with a lab draw").to.not.equal(undefined);
    const text = lab!.text
      .replaceAll(`${lab!.appointmentId}-1`, "late-1")
      .replaceAll(`${lab!.appointmentId}-2`, "late-2");
    const before = pms.charges.length;
    pms.faults.next(100, { status: 503, retryAfter: 0, route: "POST /charges", bodyIncludes: "36415" });
    const ae = await sender.send(text);
    expect([ae.code, ae.text]).to.deep.equal(["AE", "LEGACY_HTTP_503"]);
    expect(pms.charges.slice(before).map((c) => c.code)).to.deep.equal([
      chargesForVisit(pms.data.appointments.find((a) => a.id === lab!.appointmentId)!)[0].code,
    ]);
    pms.faults.clear();
    const resent = withMsh(text, { 10: "RESEND-1" });
    expect(resent).to.not.equal(text);
    const aa = await sender.send(resent);
    expect([aa.code, aa.text]).to.deep.equal(["AA", "charges posted: 2"]);
    expect(
      pms.charges
        .slice(before)
        .map((c) => c.code)
        .sort(),
    ).to.deep.equal(["36415", pms.charges[before].code].sort());
    expect(pms.charges).to.have.length(before + 2);
  });

  it("answers AR to what will never be billed: another port's message, a charge the PMS refuses, a DFT that does not convert", async function () {
    const before = chargeKeys();
    const [bill] = bills();
    const patientId = pms.data.appointments.find((a) => a.id === bill.appointmentId)!.patientId;
    const other = pms.data.appointments.find((a) => a.patientId !== patientId)!;
    const adt = bill.text.replace("DFT^P03^DFT_P03", "ADT^A08^ADT_A01").replace(/^EVN\|P03/m, "EVN|A08");
    const filtered = await sender.send(adt);
    expect([filtered.code, filtered.text]).to.deep.equal([
      "AR",
      "not a DFT message: this port takes charges",
    ]);
    // The visit of another patient: the PMS refuses the charge (422), which another try would meet again.
    const otherVisit = bill.text
      .replace(`${bill.appointmentId}^^^PMSVISIT`, `${other.id}^^^PMSVISIT`)
      .replaceAll(`|${bill.appointmentId}-`, "|foreign-");
    const refused = await sender.send(otherVisit);
    expect([refused.code, refused.text]).to.deep.equal(["AR", "LEGACY_HTTP_422"]);
    const noCode = bill.text.replace(/^(FT1\|1\|[^|]*\|\|[^|]*\|[^|]*\|CG)\|[^|]*/m, "$1|");
    expect(noCode).to.not.equal(bill.text);
    const invalid = await sender.send(noCode);
    expect([invalid.code, invalid.text]).to.deep.equal(["AR", "HL7_CONVERT"]);
    expect(chargeKeys()).to.deep.equal(before);
  });

  it("answers AA with nothing posted for a DFT without a billable line (a payment)", async function () {
    const before = chargeKeys();
    const bill = bills()[0];
    const payment = bill.text
      .split("\r")
      .filter((seg, i, all) => !seg.startsWith("FT1|") || all.findIndex((s) => s.startsWith("FT1|")) === i)
      .map((seg) =>
        seg.startsWith("FT1|") ? seg.replace("|CG|", "|PY|").replace(/\|[^|]*-1\|/, "|pay-1|") : seg,
      )
      .join("\r");
    const ack = await sender.send(payment);
    expect([ack.code, ack.text]).to.deep.equal(["AA", "no billable FT1 (charges posted: 0)"]);
    expect(chargeKeys()).to.deep.equal(before);
  });
});
