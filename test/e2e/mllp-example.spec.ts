import { expect } from "chai";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { adt, RawPeer } from "../nodes/mllp-support";
import { mllpPort } from "../support/mllp-port";
import { startRuntime, type FlowNode, type Runtime } from "../support/red-runtime";

/**
 * The shipped examples/Receive and send HL7 v2 over MLLP.json in a real Node-RED runtime (its two
 * Catch nodes and the admin API's inject endpoint need one): the listener answers AA after "store"
 * and AR from the Catch path, de-duplicates, and the sending half gets AA and MLLP_NAK.
 */

const ROOT = join(__dirname, "..", "..", "..");

describe("examples/Receive and send HL7 v2 over MLLP.json in a real Node-RED runtime", function () {
  this.timeout(120_000);
  let runtime: Runtime;
  let port: number;
  let example: FlowNode[];

  before(async () => {
    example = JSON.parse(
      readFileSync(join(ROOT, "examples", "Receive and send HL7 v2 over MLLP.json"), "utf8"),
    ) as FlowNode[];
    const z = example[0].z as string;
    const withPort = (listening: number): FlowNode[] => [
      { id: z, type: "tab", label: "mllp example" },
      ...example.map((n) => {
        const node: FlowNode = { ...n };
        if (n.port === "2575") node.port = n.type === "mllp-in" ? "0" : String(listening);
        // debug output to the log, where the test reads it
        if (n.type === "debug") node.console = true;
        return node;
      }),
    ];
    // The listener takes a free port (0) and logs it; then the sending half is deployed with it,
    // leaving the listener running (a "nodes" deploy restarts only what changed).
    const sender = example.find((n) => n.type === "mllp-out" && n.port === "2575")!.id;
    runtime = await startRuntime({ flows: withPort(0).filter((n) => n.id !== sender) });
    port = await mllpPort(runtime, example.find((n) => n.type === "mllp-in")!.id);
    await runtime.deploy(withPort(port), undefined, "nodes");
  });

  after(async () => {
    await runtime?.stop();
  });

  const id = (type: string, name: string): string => {
    const n = example.find((e) => e.type === type && e.name === name);
    if (!n) throw new Error(`no ${type} ${name} in the example`);
    return n.id;
  };

  it("answers AA after the store step, AR with ERR from the Catch path (a message that will never parse), and de-duplicates", async () => {
    const peer = await RawPeer.connect(port, 10_000);
    try {
      const from = runtime.logs.length;
      peer.send(adt("EX-1"));
      peer.send(adt("EX-2", { extra: ["pv1|1|I"] }));
      peer.send(adt("EX-1"));
      const acks = await peer.waitAcks(3);
      expect(acks.map((a) => [a.code, a.controlId])).to.deep.equal([
        ["AA", "EX-1"],
        ["AR", "EX-2"],
        ["AA", "EX-1"],
      ]);
      expect(acks[1].text).to.match(/HL7 parse error at segment 4/);
      expect(
        peer.acks[1]
          .split("\r")
          .find((l) => l.startsWith("ERR"))
          ?.split("|")[5],
      ).to.equal("HL7_PARSE");
      // One message of a connection is with the flow at a time, in order: once EX-3 (sent last) is
      // stored, whatever the three before it brought to the store is in the log.
      peer.send(adt("EX-3"));
      expect((await peer.waitAcks(4))[3].code).to.equal("AA");
      await runtime.waitForLog(/controlId: 'EX-3'/, 10_000, from);
      // EX-1 once (its repeat is answered from the dedupe window), EX-2 never (it did not parse)
      const stored = runtime.logs.slice(from).filter((l) => l.includes("[debug:store]"));
      expect(stored).to.have.length(2);
    } finally {
      peer.destroy();
    }
  });

  it("sends with mllp-out: AA comes out with msg.hl7.ack, a malformed message fails MLLP_NAK", async () => {
    const from = runtime.logs.length;
    for (const name of ["ADT^A04", "malformed ADT^A04"]) {
      const res = await fetch(`${runtime.url}/inject/${id("inject", name)}`, { method: "POST" });
      expect(res.status).to.equal(200);
    }
    await runtime.waitForLog(/\[debug:ACK\]/, 20_000, from);
    await runtime.waitForLog(/\[debug:MLLP_NAK\]/, 20_000, from);
    const log = runtime.logs.slice(from).join("\n");
    expect(log).to.match(/ackCode: 'AA'/);
    expect(log).to.match(/code: 'MLLP_NAK'/);
  });
});
