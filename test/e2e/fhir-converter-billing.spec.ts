import { expect } from "chai";
import { MllpClient } from "../../lib/hl7/client";
import { startFhirSandbox, type FhirSandbox } from "../../sandbox/fhir/server";
import { samples, sampleText } from "../support/fhir-converter";
import { hl7ToFhirFlow } from "../support/hl7-fhir-flow";
import { mllpPort } from "../support/mllp-port";
import { startRuntime, type FlowNode, type Runtime } from "../support/red-runtime";

/**
 * Every DFT and BAR sample of FHIR-Converter (test/fixtures/fhir-converter, MIT) through a real
 * Node-RED runtime: mllp-in (ack: flow) -> hl7-fhir -> fhir-request (transaction) against the
 * sandbox FHIR server -> mllp-out (reply AA); a Catch answers AE. The test is the HL7 sender.
 */

const TAB = "e2e-billing";
// a stored resource as JSON, read by path in the assertions
type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const SAMPLES = samples(["DFT-", "BAR-"]);

function flows(mllpPort: number, fhirUrl: string): FlowNode[] {
  return hl7ToFhirFlow({
    tab: TAB,
    label: "billing -> fhir",
    mllpPort,
    fhirUrl,
    systems: "{}",
    timezone: "Z",
  });
}

describe("FHIR-Converter's DFT and BAR samples end to end: mllp-in -> hl7-fhir -> fhir-request", function () {
  this.timeout(60000);
  let sandbox: FhirSandbox;
  let runtime: Runtime;
  let client: MllpClient;

  async function search(query: string): Promise<Json[]> {
    const res = await fetch(`${sandbox.url}/${query}${query.includes("?") ? "&" : "?"}_count=200`);
    expect(res.status, query).to.equal(200);
    const bundle = (await res.json()) as { entry?: Array<{ resource: Json }> };
    return (bundle.entry ?? []).map((e) => e.resource);
  }

  const TYPES = ["Patient", "Account", "Encounter", "ChargeItem", "Coverage", "Condition", "Procedure"];
  async function counts(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const type of TYPES) out[type] = (await search(type)).length;
    return out;
  }

  async function sendAll(): Promise<void> {
    for (const file of SAMPLES) {
      const text = sampleText(file);
      const controlId = text.split(/\r\n|\r|\n/)[0].split("|")[9];
      const { ack } = await client.send(text, controlId);
      expect(ack.code, `${file}: ${ack.text ?? ""}`).to.equal("AA");
    }
  }

  before(async () => {
    sandbox = await startFhirSandbox({ port: 0 });
    runtime = await startRuntime({ flows: flows(0, sandbox.url) });
    const port = await mllpPort(runtime, "in");
    client = new MllpClient({
      host: "127.0.0.1",
      port,
      timeoutMs: 20000,
      retries: 5,
      backoffInitialMs: 100,
      queueSize: 20,
    });
  });

  after(async () => {
    await client?.close();
    await runtime?.stop();
    await sandbox?.close();
  });

  it("every sample is ACKed AA and the sandbox holds the charges, account, coverage and diagnoses", async () => {
    await sendAll();
    const [account] = await search("Account?identifier=urn:oid:1.3.6.1.4.1.44750.1.2.2|4000776");
    expect(account, "Account 4000776").to.not.equal(undefined);
    // BAR^P02 purged it; the DFTs that follow only make sure it exists, so it stays purged
    expect(account.status).to.equal("inactive");
    const charges = await search(`ChargeItem?account=Account/${account.id as string}`);
    const facts = charges
      .map((c) => [c.code.coding[0].code, c.quantity.value, c.priceOverride.value, c.occurrenceDateTime])
      .sort();
    expect(facts).to.deep.equal([
      ["626.2", 1, 120, "2019-11-22"],
      ["71045", 2, 100, "2019-11-22"],
      ["92002", 1, 70, "2019-11-22"],
    ]);
    const [patient] = await search("Patient?identifier=urn:healthbridge:hl7v2:test1|PATID1234");
    expect(patient.birthDate).to.equal("1988-08-18");
    for (const c of charges) expect(c.subject.reference).to.equal(`Patient/${patient.id as string}`);
    const coverages = await search("Coverage");
    expect(coverages.map((c) => c.subscriberId).sort()).to.include("HMO-12345");
    expect((await search("Condition?code=29857009")).length).to.equal(1);
  });

  it("sending every sample again doubles nothing (charges per account unchanged)", async () => {
    const before = await counts();
    const [account] = await search("Account?identifier=urn:oid:1.3.6.1.4.1.44750.1.2.2|4000776");
    const charges = (await search(`ChargeItem?account=Account/${account.id as string}`)).length;
    await sendAll();
    expect(await counts()).to.deep.equal(before);
    expect((await search(`ChargeItem?account=Account/${account.id as string}`)).length).to.equal(charges);
  });
});
