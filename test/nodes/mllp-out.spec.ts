/* eslint-disable @typescript-eslint/no-explicit-any -- Node-RED messages are dynamic */
import { expect } from "chai";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import helper from "node-red-node-test-helper";
import { HEALTH_EVENT, healthBus, type HealthEvent } from "../../lib/health/bus";
import { buildAck, encodeFrame, MllpDecoder, parseHeader, parseHl7, readAck } from "../../lib/hl7";
import hl7ParseNode from "../../nodes/hl7-parse/hl7-parse";
import mllpInNode from "../../nodes/mllp-in/mllp-in";
import mllpOutNode from "../../nodes/mllp-out/mllp-out";
import { adt, collect, portOf, receive, sleep, until } from "./mllp-support";
import { relay, type Relay } from "../support/mllp-port";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const functionNode = require("@node-red/nodes/core/function/10-function.js");
// eslint-disable-next-line @typescript-eslint/no-require-imports
const tlsNode = require("@node-red/nodes/core/network/05-tls.js");

helper.init(require.resolve("node-red"));

const TAB = "tab-mllp-out";
const NODES = [mllpInNode, mllpOutNode, hl7ParseNode, functionNode, tlsNode];

/** A bare MLLP peer for the sender to talk to: `answer` decides what each frame gets back. */
class FakeReceiver {
  readonly frames: string[] = [];
  connections = 0;
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();

  constructor(answer: (text: string, n: number, socket: net.Socket) => string | undefined | "close") {
    this.server = net.createServer((socket) => {
      this.connections++;
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
      socket.on("error", () => undefined);
      const decoder = new MllpDecoder({
        frame: (b) => {
          const text = b.toString("utf8");
          this.frames.push(text);
          const reply = answer(text, this.frames.length, socket);
          if (reply === "close") socket.destroy();
          else if (reply !== undefined) socket.write(encodeFrame(reply));
        },
      });
      socket.on("data", (d: Buffer) => decoder.push(d));
    });
  }

  listen(): Promise<number> {
    return new Promise((resolve) =>
      this.server.listen(0, "127.0.0.1", () => resolve((this.server.address() as net.AddressInfo).port)),
    );
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

async function load(nodes: any[]): Promise<void> {
  const flow: any[] = [
    { id: TAB, type: "tab", label: "mllp-out" },
    { id: "caught", z: TAB, type: "helper" },
    { id: "catch", z: TAB, type: "catch", scope: null, uncaught: false, wires: [["caught"]] },
    { id: "out", z: TAB, type: "helper" },
    ...nodes,
  ];
  await helper.load(
    NODES,
    flow.map((n) => (n.type === "tab" || n.type === "tls-config" ? n : { x: 0, y: 0, ...n })),
  );
}

function sender(port: number, props: Record<string, unknown> = {}): any {
  return {
    id: "send",
    z: TAB,
    type: "mllp-out",
    mode: "send",
    host: "127.0.0.1",
    port: String(port),
    timeout: "2000",
    retries: "2",
    wires: [["out"]],
    ...props,
  };
}

describe("mllp-out node", function () {
  this.timeout(60_000);
  const fakes: FakeReceiver[] = [];
  async function fake(
    answer: ConstructorParameters<typeof FakeReceiver>[0],
  ): Promise<[FakeReceiver, number]> {
    const f = new FakeReceiver(answer);
    fakes.push(f);
    return [f, await f.listen()];
  }
  const aa = (text: string): string => buildAck(parseHeader(text), "AA");

  /** A relay the sender is configured with, to the mllp-in of the same flow once it has bound port 0. */
  const relays: Relay[] = [];
  async function relayed(): Promise<Relay> {
    const r = await relay();
    relays.push(r);
    return r;
  }

  afterEach(async () => {
    await helper.unload();
    for (const f of fakes.splice(0)) await f.close();
    for (const r of relays.splice(0)) await r.close();
  });
  after((done) => {
    helper.stopServer(done);
  });

  it("sends to mllp-in and outputs the msg with msg.hl7.ack (text and hl7-parse structure)", async () => {
    const via = await relayed();
    await load([
      { id: "in", z: TAB, type: "mllp-in", port: "0", ack: "auto", wires: [["received"]] },
      { id: "received", z: TAB, type: "helper" },
      sender(via.port),
    ]);
    via.to(await portOf("in"));
    const got = receive("out", 2);
    const received = collect("received");
    helper.getNode("send").receive({ payload: adt("S-1") } as any);
    helper.getNode("send").receive({ payload: parseHl7(adt("S-2")).toJSON() } as any);
    const [m1, m2] = await got;
    expect(m1.payload).to.equal(adt("S-1"));
    expect(m1.hl7).to.include({ ackCode: "AA", controlId: "S-1", type: "ADT", event: "A01" });
    expect(m1.hl7.ack).to.include({ code: "AA", controlId: "S-1", attempts: 1 });
    expect(readAck(m1.hl7.ack.message).header.receivingApplication).to.equal("PMS");
    expect(m2.hl7.ack).to.include({ code: "AA", controlId: "S-2" });
    expect(received.map((m) => m.hl7.controlId)).to.deep.equal(["S-1", "S-2"]);
  });

  it("keeps the order of many messages on its one connection", async () => {
    const [f, port] = await fake((t) => aa(t));
    await load([sender(port)]);
    const got = receive("out", 50);
    for (let i = 0; i < 50; i++) helper.getNode("send").receive({ payload: adt(`ORD-${i}`) } as any);
    const msgs = await got;
    expect(msgs.map((m) => m.hl7.controlId)).to.deep.equal(Array.from({ length: 50 }, (_, i) => `ORD-${i}`));
    expect(f.frames.map((t) => parseHeader(t).controlId)).to.deep.equal(msgs.map((m) => m.hl7.controlId));
    expect(f.connections).to.equal(1);
  });

  it("fails AE/AR with MLLP_NAK and the MSA and ERR details", async () => {
    const via = await relayed();
    await load([
      { id: "in", z: TAB, type: "mllp-in", port: "0", ack: "auto", wires: [[]] },
      sender(via.port),
    ]);
    via.to(await portOf("in"));
    const out = collect("out");
    const caught = receive("caught", 2);
    helper.getNode("send").receive({ payload: adt("NAK-1", { extra: ["PV1|1|I", "bad"] }) } as any);
    const [c] = (await caught).filter((m) => m.error.source.type === "mllp-out");
    // The receiver's text ("... segment 5 ...") stays on the msg, out of the logged message.
    expect(c.error.message).to.match(/the receiver answered AE \(error 100\)$/);
    expect(c.hl7.ackCode).to.equal("AE");
    expect(c.hl7.error).to.include({ code: "MLLP_NAK", ackCode: "AE" });
    expect(c.hl7.error.text).to.match(/segment 5/);
    expect(c.hl7.error.error).to.include({ code: "100", severity: "E" });
    expect(readAck(c.hl7.error.ack).controlId).to.equal("NAK-1");
    expect(out).to.have.length(0);
  });

  it("resends after an ACK timeout; the receiver's dedupe stores the message once", async () => {
    // mllp-in in flow mode: the "store" step is slow the first time, so the sender times out
    // and sends the same message again; the repeat is answered from the dedupe window.
    const via = await relayed();
    await load([
      { id: "in", z: TAB, type: "mllp-in", port: "0", ack: "flow", dedupe: "60", wires: [["slow"]] },
      {
        id: "slow",
        z: TAB,
        type: "function",
        func: "const n = (context.get('n') || 0) + 1; context.set('n', n);\nif (n === 1) { setTimeout(() => node.send(msg), 700); return null; }\nreturn msg;",
        outputs: 1,
        wires: [["stored", "reply"]],
      },
      { id: "stored", z: TAB, type: "helper" },
      { id: "reply", z: TAB, type: "mllp-out", mode: "reply", ackCode: "AA", wires: [[]] },
      sender(via.port, { timeout: "300", retries: "4" }),
    ]);
    via.to(await portOf("in"));
    const stored = collect("stored");
    const got = receive("out");
    helper.getNode("send").receive({ payload: adt("RS-1") } as any);
    const [msg] = await got;
    expect(msg.hl7.ack).to.include({ code: "AA", controlId: "RS-1" });
    expect(msg.hl7.ack.attempts).to.be.greaterThan(1);
    // The resends came on connections of their own, so no one connection's order marks the end of
    // what they caused: a bounded wait.
    await sleep(500);
    expect(stored.map((m) => m.hl7.controlId)).to.deep.equal(["RS-1"]);
  });

  it("without any ACK: the same frame retries times more, then MLLP_TIMEOUT on a fresh connection", async () => {
    const [f, port] = await fake(() => undefined);
    await load([sender(port, { timeout: "200", retries: "2" })]);
    const caught = receive("caught");
    helper.getNode("send").receive({ payload: adt("TO-1") } as any);
    const [c] = await caught;
    expect(c.hl7.error).to.include({ code: "MLLP_TIMEOUT", attempts: 3 });
    expect(f.frames).to.deep.equal([adt("TO-1"), adt("TO-1"), adt("TO-1")]);
    // after a final timeout the connection is dropped: the next message opens a new one
    await until(() => f.connections === 1, 2000, "first connection");
    helper.getNode("send").receive({ payload: adt("TO-2") } as any);
    await until(() => f.connections === 2, 5000, "a new connection");
  });

  it("ignores an ACK for another control ID and reconnects when the connection drops before the ACK", async () => {
    const [f, port] = await fake((t, n, socket) => {
      if (n === 1) return "close";
      // a late ACK of some earlier message first, then the real one
      socket.write(encodeFrame(buildAck(parseHeader(adt("OTHER")), "AE")));
      return aa(t);
    });
    await load([sender(port, { timeout: "2000", retries: "3" })]);
    const got = receive("out");
    helper.getNode("send").receive({ payload: adt("DROP-1") } as any);
    const [m] = await got;
    expect(m.hl7.ack).to.include({ code: "AA", controlId: "DROP-1", attempts: 2 });
    expect(f.connections).to.equal(2);
  });

  it("fails MLLP_CONNECT when nothing listens, and MLLP_QUEUE_FULL beyond the queue", async () => {
    const free = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, "127.0.0.1", () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    await load([sender(free, { timeout: "300", retries: "1" })]);
    let caught = receive("caught");
    helper.getNode("send").receive({ payload: adt("NC-1") } as any);
    expect((await caught)[0].hl7.error).to.include({ code: "MLLP_CONNECT", attempts: 2 });
    await helper.unload();

    const [, port] = await fake(() => undefined);
    await load([sender(port, { timeout: "3000", retries: "0", queueSize: "1" })]);
    caught = receive("caught");
    for (const id of ["Q-1", "Q-2", "Q-3"]) helper.getNode("send").receive({ payload: adt(id) } as any);
    const [c] = await caught;
    expect(c.hl7.error.code).to.equal("MLLP_QUEUE_FULL");
    expect(c.hl7.controlId).to.equal("Q-3");
  });

  it("a number property that is not a number in range fails every msg with MLLP_CONFIG, sending nothing", async () => {
    const [f, port] = await fake((t) => aa(t));
    const bad: Array<[Record<string, unknown>, string]> = [
      [{ retries: "three" }, 'retries must be an integer >= 0, got "three"'],
      [{ timeout: "0" }, 'timeout must be a number of ms >= 1, got "0"'],
      [{ queueSize: "-1" }, 'queueSize must be an integer >= 0, got "-1"'],
      [{ port: "99999" }, 'port must be an integer from 1 to 65535, got "99999"'],
    ];
    for (const [props, message] of bad) {
      await load([sender(port, props)]);
      const caught = receive("caught");
      helper.getNode("send").receive({ payload: adt("CFG-1") } as any);
      const [c] = await caught;
      expect(c.error.code, JSON.stringify(props)).to.equal("MLLP_CONFIG");
      expect(c.error.message).to.equal(`PackError: mllp-out: ${message}`);
      await helper.unload();
    }
    expect(f.frames).to.have.length(0);
  });

  it("rejects a payload that is no HL7 message (HL7_BAD_INPUT / HL7_PARSE)", async () => {
    const [f, port] = await fake((t) => aa(t));
    await load([sender(port)]);
    let caught = receive("caught");
    helper.getNode("send").receive({ payload: 12 } as any);
    expect((await caught)[0].hl7.error.code).to.equal("HL7_BAD_INPUT");
    caught = receive("caught");
    helper.getNode("send").receive({ payload: "PID|1" } as any);
    expect((await caught)[0].hl7.error.code).to.equal("HL7_PARSE");
    expect(f.frames).to.have.length(0);
  });

  it("reports each outcome to the health bus", async () => {
    const events: HealthEvent[] = [];
    const on = (e: HealthEvent): void => {
      if (e.source === "mllp-out") events.push(e);
    };
    healthBus().on(HEALTH_EVENT, on);
    try {
      const [, port] = await fake((t, n) => (n === 1 ? aa(t) : buildAck(parseHeader(t), "AR")));
      await load([sender(port, { integration: "ehr-feed" })]);
      const done = receive("out");
      helper.getNode("send").receive({ payload: adt("HE-1") } as any);
      await done;
      const caught = receive("caught");
      helper.getNode("send").receive({ payload: adt("HE-2") } as any);
      await caught;
      expect(events.map((e) => [e.integration, e.success, e.error])).to.deep.equal([
        ["ehr-feed", true, undefined],
        ["ehr-feed", false, "MLLP_NAK"],
      ]);
    } finally {
      healthBus().off(HEALTH_EVENT, on);
    }
  });

  describe("over TLS (core tls-config)", () => {
    let dir: string;
    before(() => {
      dir = mkdtempSync(join(tmpdir(), "mllp-tls-"));
      execFileSync(
        "openssl",
        [
          "req",
          "-x509",
          "-newkey",
          "rsa:2048",
          "-nodes",
          "-days",
          "2",
          "-keyout",
          join(dir, "key.pem"),
          "-out",
          join(dir, "cert.pem"),
          "-subj",
          "/CN=localhost",
          "-addext",
          "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        { stdio: "ignore" },
      );
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    it("mllp-out sends to mllp-in over TLS, verifying the server certificate", async () => {
      const tls = (id: string, props: Record<string, unknown>): any => ({
        id,
        type: "tls-config",
        cert: "",
        key: "",
        ca: "",
        verifyservercert: false,
        ...props,
      });
      const serverTls = tls("tlsServer", { cert: join(dir, "cert.pem"), key: join(dir, "key.pem") });
      const clientTls = tls("tlsClient", { ca: join(dir, "cert.pem"), verifyservercert: true });
      const via = await relayed();
      await load([
        serverTls,
        clientTls,
        {
          id: "in",
          z: TAB,
          type: "mllp-in",
          port: "0",
          tls: "tlsServer",
          ack: "auto",
          wires: [["received"]],
        },
        { id: "received", z: TAB, type: "helper" },
        sender(via.port, { tls: "tlsClient" }),
      ]);
      const port = await portOf("in");
      via.to(port);
      const got = receive("out");
      const received = receive("received");
      helper.getNode("send").receive({ payload: adt("TLS-1") } as any);
      expect((await got)[0].hl7.ack).to.include({ code: "AA", controlId: "TLS-1" });
      expect((await received)[0].hl7.controlId).to.equal("TLS-1");

      // a plain TCP sender gets nothing from the TLS listener
      const plain = net.connect({ host: "127.0.0.1", port });
      plain.on("error", () => undefined);
      plain.write(encodeFrame(adt("PLAIN-1")));
      const answer = await new Promise<string>((resolve) => {
        let data = "";
        plain.on("data", (d: Buffer) => (data += d.toString("latin1")));
        plain.on("close", () => resolve(data));
      });
      expect(answer).not.to.include("MSA");
    });
  });
});
