import { expect } from "chai";
import { connect, type Socket } from "node:net";
import { once } from "node:events";
import { createConverter } from "../../lib/hl7/fhir";
import { encodeFrame } from "../../lib/hl7/mllp";
import { startHl7Sender, type Hl7Sender } from "../../sandbox/hl7/sender";
import { startFhirSandbox, type FhirSandbox } from "../../sandbox/fhir/server";
import {
  ADT_SIU_BY_DESIGN as BY_DESIGN,
  adtSiuDifferences,
  expectedBundle,
  resourcesOf,
  sampleText,
  samples,
  unexplained,
  type Held,
  type Json,
} from "../support/fhir-converter";
import { hl7ToFhirFlow } from "../support/hl7-fhir-flow";
import { withMsh } from "../support/msh";
import { mllpPort } from "../support/mllp-port";
import { startRuntime, type FlowNode, type Runtime } from "../support/red-runtime";

/**
 * Every ADT and SIU sample of Microsoft FHIR-Converter, sent over MLLP to a real Node-RED runtime:
 * mllp-in (ack: flow) -> hl7-fhir (to-fhir) -> fhir-request (transaction) against the sandbox FHIR
 * server -> mllp-out (reply AA); a Catch on hl7-fhir and fhir-request -> mllp-out (reply AE), as
 * test/e2e/hl7-fhir-e2e.spec.ts and docs/hl7-fhir.md build it. Each must be answered AA, and what the
 * server then holds (searched by the identifiers the message is written by) must have the reference's
 * facts but for the differences by design; sent again, it changes nothing.
 */

const TAB = "e2e-fhir-converter";
const SAMPLES = samples(["ADT", "SIU"]);
const converter = createConverter({ direction: "to-fhir" });

function flows(mllpPort: number, fhirUrl: string): FlowNode[] {
  return hl7ToFhirFlow({
    tab: TAB,
    label: "FHIR-Converter samples",
    mllpPort,
    fhirUrl,
    systems: "",
    timezone: "UTC",
  });
}

/** `Type?identifier=...` of every entry of the Bundle the message becomes (PUT url or ifNoneExist). */
function searchesOf(text: string): string[] {
  const bundle = converter.toFhir(text).bundle;
  const out = new Set<string>();
  for (const e of bundle.entry ?? []) {
    const r = e.request;
    if (!r || !e.resource) continue;
    out.add(r.method === "PUT" ? r.url : `${e.resource.resourceType}?${r.ifNoneExist ?? ""}`);
  }
  return [...out];
}

/** MSH-15 and MSH-16 both NE: the sender asks for no acknowledgment at all (enhanced mode). */
function asksNoAck(text: string): boolean {
  const msh = text
    .replace(/^\uFEFF/, "")
    .split(/\r\n|\r|\n/)[0]
    .split("|");
  return msh[14]?.trim() === "NE" && msh[15]?.trim() === "NE";
}

const TYPES = ["Patient", "Encounter", "Account", "Appointment", "Practitioner", "Location"];

describe("FHIR-Converter's ADT and SIU samples through mllp-in -> hl7-fhir -> fhir-request -> the sandbox EHR", function () {
  this.timeout(60000);
  let sandbox: FhirSandbox;
  let runtime: Runtime;
  let sender: Hl7Sender;
  let port = 0;

  async function search(query: string): Promise<Json[]> {
    const res = await fetch(`${sandbox.url}/${query}${query.includes("?") ? "&" : "?"}_count=1000`);
    expect(res.status, query).to.equal(200);
    const bundle = (await res.json()) as Json;
    return resourcesOf(bundle);
  }

  /** Every resource the sandbox holds, by `Type/id`. */
  async function everything(): Promise<Map<string, Json>> {
    const out = new Map<string, Json>();
    for (const type of TYPES) for (const r of await search(type)) out.set(`${type}/${r.id as string}`, r);
    return out;
  }

  before(async () => {
    sandbox = await startFhirSandbox({ port: 0 });
    runtime = await startRuntime({ flows: flows(0, sandbox.url) });
    port = await mllpPort(runtime, "in");
    sender = await startHl7Sender({ port, intervalMs: 0, messages: [], retries: 5, ackTimeoutMs: 20000 });
  });

  after(async () => {
    await sender?.stop();
    await runtime?.stop();
    await sandbox?.close();
  });

  it("each sample, sent to an empty EHR, is answered AA, the EHR then holds the reference's facts, and a resend changes nothing", async () => {
    expect(SAMPLES).to.have.length(71);
    const failures: string[] = [];
    const written: Record<string, number> = {};
    for (const name of SAMPLES) {
      // the samples reuse identifiers with contradicting stories (A40-02 merges 569 into 145, A47-02
      // renumbers 569 to 145), so each is told to an EHR of its own
      await sandbox.reset();
      const text = sampleText(name);
      // A sender that asks for no ACK (MSH-15/16 NE) gets none: its message is written all the same.
      let silent: { socket: Socket; received: number } | undefined;
      if (asksNoAck(text)) {
        const socket = connect(port, "127.0.0.1");
        await once(socket, "connect");
        silent = { socket, received: 0 };
        socket.on("data", (chunk: Buffer) => (silent!.received += chunk.length));
        socket.write(encodeFrame(text));
      } else {
        const ack = await sender.send(text);
        if (ack.code !== "AA") {
          failures.push(`${name}: ${ack.code} ${ack.text ?? ""}`);
          continue;
        }
      }
      const held: Held[] = [];
      for (const query of searchesOf(text)) {
        let found = await search(query);
        for (let i = 0; silent && found.length === 0 && i < 100; i++) {
          await new Promise((r) => setTimeout(r, 100));
          found = await search(query);
        }
        expect(found, `${name} ${query}`).to.have.length(1);
        held.push({ url: `${found[0].resourceType as string}/${found[0].id as string}`, resource: found[0] });
      }
      const { left } = unexplained(adtSiuDifferences(name, expectedBundle(name), held), BY_DESIGN);
      if (left.length) failures.push(`${name}: ${JSON.stringify(left)}`);

      const before = await everything();
      for (const key of before.keys()) written[key.split("/")[0]] = (written[key.split("/")[0]] ?? 0) + 1;
      // resent in original mode when it asked for no ACK, so that the answer says it was processed
      const again = await sender.send(silent ? withMsh(text, { 15: "", 16: "" }) : text);
      expect(again.code, `${name} resent: ${again.text ?? ""}`).to.equal("AA");
      if (silent) {
        silent.socket.destroy();
        expect(silent.received, `${name}: bytes answered to a sender that asked for no ACK`).to.equal(0);
      }
      const after = await everything();
      expect([...after.keys()].sort(), `${name} resent`).to.deep.equal([...before.keys()].sort());
      const content = (r: Json): Json => ({ ...r, meta: undefined });
      for (const [key, was] of before) {
        const now = after.get(key)!;
        expect(content(now), `${name} resent: ${key}`).to.deep.equal(content(was));
        // created once (POST ifNoneExist) and never updated: a resend leaves their version
        if (key.startsWith("Practitioner/") || key.startsWith("Location/")) {
          expect((now.meta as Json).versionId, `${name} resent: ${key}`).to.equal(
            (was.meta as Json).versionId,
          );
        }
      }
    }
    expect(failures).to.deep.equal([]);
    for (const type of TYPES) expect(written[type] ?? 0, type).to.be.above(0);
  });
});
