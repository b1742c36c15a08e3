import { expect } from "chai";
import type { HL7Message } from "hl7v2";
import type * as HL7Net from "hl7v2-net";
import type { HL7Request, HL7Response } from "hl7v2-net";
import { type AckInfo, readAck } from "../../lib/hl7";
import { hl7v2 } from "../../lib/hl7/hl7v2";
import { mllpPort } from "../support/mllp-port";
import { startRuntime, type FlowNode, type Runtime } from "../support/red-runtime";

/**
 * Interop with another MLLP implementation, hl7v2-net (panates), in a real Node-RED runtime:
 * its client sends to mllp-in (auto and flow modes) and checks the ACKs; mllp-out sends to its
 * server and checks the ACKs it gives (AA, and AE through its error path).
 */

type Net = typeof HL7Net;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const net = (): Net => require("hl7v2-net") as Net;

const TAB = "e2e-mllp-interop";

function adt(controlId: string, extra = ""): string {
  return (
    `MSH|^~\\&|PEERAPP|PEERFAC|BRIDGE|HB|20240301091500||ADT^A01^ADT_A01|${controlId}|P|2.5.1\r` +
    `EVN|A01|20240301091500\rPID|1||${controlId}^^^PEER^MR||Peer^Test||19800101|F\r${extra}`
  );
}

function flows(autoPort: number, flowPort: number, peerPort: number): FlowNode[] {
  const at = (x: number, y: number): { z: string; x: number; y: number } => ({ z: TAB, x, y });
  return [
    { id: TAB, type: "tab", label: "mllp interop" },
    { id: "auto", type: "mllp-in", ...at(100, 60), port: String(autoPort), ack: "auto", wires: [[]] },
    {
      id: "flowIn",
      type: "mllp-in",
      ...at(100, 120),
      port: String(flowPort),
      ack: "flow",
      wires: [["parse"]],
    },
    { id: "parse", type: "hl7-parse", ...at(260, 120), wires: [["reply"]] },
    { id: "reply", type: "mllp-out", ...at(420, 120), mode: "reply", ackCode: "AA", wires: [[]] },
    { id: "catchParse", type: "catch", ...at(260, 180), scope: ["parse"], uncaught: false, wires: [["nak"]] },
    { id: "nak", type: "mllp-out", ...at(420, 180), mode: "reply", ackCode: "AE", wires: [[]] },
    {
      id: "http",
      type: "http in",
      ...at(100, 260),
      url: "/send",
      method: "post",
      upload: false,
      swaggerDoc: "",
      wires: [["send"]],
    },
    {
      id: "send",
      type: "mllp-out",
      ...at(260, 260),
      mode: "send",
      host: "127.0.0.1",
      port: String(peerPort),
      timeout: "3000",
      retries: "0",
      wires: [["ok"]],
    },
    {
      id: "ok",
      type: "change",
      ...at(420, 260),
      rules: [{ t: "set", p: "payload", pt: "msg", to: "hl7", tot: "msg" }],
      wires: [["res"]],
    },
    { id: "catchSend", type: "catch", ...at(260, 320), scope: ["send"], uncaught: false, wires: [["bad"]] },
    {
      id: "bad",
      type: "change",
      ...at(420, 320),
      rules: [
        { t: "set", p: "payload", pt: "msg", to: "hl7", tot: "msg" },
        { t: "set", p: "statusCode", pt: "msg", to: "502", tot: "num" },
      ],
      wires: [["res"]],
    },
    { id: "res", type: "http response", ...at(580, 290), statusCode: "", headers: {} },
  ];
}

describe("MLLP interop with hl7v2-net in a real Node-RED runtime", function () {
  this.timeout(120_000);
  let runtime: Runtime;
  let autoPort: number;
  let flowPort: number;
  let peer: ReturnType<Net["HL7Server"]["createServer"]>;
  const peerGot: string[] = [];

  before(async () => {
    const { HL7Server } = net();
    peer = HL7Server.createServer();
    peer.use(async (req: HL7Request, res: HL7Response) => {
      peerGot.push(req.message.controlId);
      if (req.message.controlId.startsWith("REJ")) res.failed(new Error("rejected by the peer"));
    });
    await peer.listen(0, "127.0.0.1");
    const peerPort = (peer.address() as { port: number }).port;
    runtime = await startRuntime({ flows: flows(0, 0, peerPort) });
    autoPort = await mllpPort(runtime, "auto");
    flowPort = await mllpPort(runtime, "flowIn");
  });

  after(async () => {
    await runtime?.stop();
    await peer?.close();
  });

  /** Sends with hl7v2-net's client; returns its parsed ACK and the raw ACK frame as read by us. */
  async function sendWithPeerClient(port: number, text: string): Promise<{ ack: HL7Message; raw: AckInfo }> {
    const { Hl7Client } = net();
    const client = Hl7Client.createClient({ host: "127.0.0.1", port, responseTimeout: 10_000 });
    const raw: Buffer[] = [];
    client.on("data", (b: Buffer) => raw.push(b));
    await client.connect();
    try {
      const ack = await client.sendMessageWaitAck(hl7v2().HL7Message.parse(text));
      const bytes = Buffer.concat(raw);
      return { ack, raw: readAck(bytes.subarray(1, bytes.indexOf(0x1c)).toString("utf8")) };
    } finally {
      await client.close();
    }
  }

  it("hl7v2-net client -> mllp-in (auto): AA, standard header, MSA-2 = its MSH-10", async () => {
    const { ack, raw } = await sendWithPeerClient(autoPort, adt("NET-1"));
    expect(ack.getSegment("MSA")?.field(1).getValue()).to.equal("AA");
    expect(ack.getSegment("MSA")?.field(2).getValue()).to.equal("NET-1");
    expect(raw.header).to.include({
      type: "ACK",
      event: "A01",
      structure: "ACK",
      version: "2.5.1",
      sendingApplication: "BRIDGE",
      sendingFacility: "HB",
      receivingApplication: "PEERAPP",
      receivingFacility: "PEERFAC",
    });
  });

  it("hl7v2-net client -> mllp-in (flow): AA from mllp-out reply, AE with ERR from the Catch path", async () => {
    const good = await sendWithPeerClient(flowPort, adt("NET-2"));
    expect(good.raw).to.include({ code: "AA", controlId: "NET-2" });
    const bad = await sendWithPeerClient(flowPort, adt("NET-3", "zz|1\r"));
    expect(bad.ack.getSegment("MSA")?.field(1).getValue()).to.equal("AE");
    expect(bad.raw).to.include({ code: "AE", controlId: "NET-3" });
    expect(bad.raw.error).to.include({ severity: "E" });
  });

  it("mllp-out -> hl7v2-net server: AA accepted (its ACK matched by MSA-2), AE reported as MLLP_NAK", async () => {
    const post = async (text: string): Promise<{ status: number; body: Record<string, unknown> }> => {
      const res = await fetch(`${runtime.url}/send`, {
        method: "POST",
        headers: { "content-type": "text/plain" },
        body: text,
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    const ok = await post(adt("OUT-1"));
    expect(ok.status).to.equal(200);
    expect(ok.body).to.include({ ackCode: "AA", controlId: "OUT-1" });
    expect(ok.body.ack).to.include({ code: "AA", controlId: "OUT-1", attempts: 1 });
    const rej = await post(adt("REJ-1"));
    expect(rej.status).to.equal(502);
    expect(rej.body.error).to.include({ code: "MLLP_NAK", ackCode: "AE" });
    expect(peerGot).to.deep.equal(["OUT-1", "REJ-1"]);
  });
});
