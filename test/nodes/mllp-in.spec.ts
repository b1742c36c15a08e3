/* eslint-disable @typescript-eslint/no-explicit-any -- Node-RED messages are dynamic */
import Database from "better-sqlite3";
import { expect } from "chai";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import helper from "node-red-node-test-helper";
import type { EventEmitter } from "node:events";
import {
  HEALTH_EVENT,
  healthBus,
  type HealthEvent,
  REFUSAL_EVENT,
  type RefusalEvent,
} from "../../lib/health/bus";
import { readAck, sharedFrameBudget } from "../../lib/hl7";
import hl7ParseNode from "../../nodes/hl7-parse/hl7-parse";
import messageStoreNode from "../../nodes/message-store/message-store";
import mllpInNode from "../../nodes/mllp-in/mllp-in";
import mllpOutNode from "../../nodes/mllp-out/mllp-out";
import { adt, collect, type Msg, portOf, RawPeer, receive, sleep, until } from "./mllp-support";

helper.init(require.resolve("node-red"));

const TAB = "tab-mllp";

interface StatusCall {
  fill?: string;
  shape?: string;
  text?: string;
}
const statuses: StatusCall[] = [];
(helper as unknown as { _events: EventEmitter })._events.on(
  "node-status",
  (e: { id: string; status: StatusCall }) => {
    if (e.id === "in") statuses.push(e.status);
  },
);
const NODES = [mllpInNode, mllpOutNode, hl7ParseNode];

function segs(ack: string, id: string): string[] {
  const line = ack.split("\r").find((l) => l.startsWith(id));
  if (!line) throw new Error(`no ${id}`);
  return line.split("|");
}

/** mllp-in wired to "out", a Catch for everything wired to "caught", plus extra nodes. */
async function load(inProps: Record<string, unknown>, extra: Msg[] = [], withCatch = true): Promise<number> {
  const flow: any[] = [
    { id: TAB, type: "tab", label: "mllp" },
    { id: "in", z: TAB, type: "mllp-in", port: "0", host: "127.0.0.1", wires: [["out"]], ...inProps },
    { id: "out", z: TAB, type: "helper" },
    { id: "caught", z: TAB, type: "helper" },
    ...extra,
  ];
  // (the test helper loads the catch module once per Catch node: one Catch per flow)
  if (withCatch)
    flow.push({ id: "catch", z: TAB, type: "catch", scope: null, uncaught: false, wires: [["caught"]] });
  // x/y make every node a flow node (without them Node-RED treats a node as a config node)
  await helper.load(
    NODES,
    flow.map((n) => (n.type === "tab" ? n : { x: 0, y: 0, ...n })),
  );
  return portOf("in");
}

describe("mllp-in node", function () {
  this.timeout(60_000);
  const peers: RawPeer[] = [];
  async function peer(port: number, allowHalfOpen = false): Promise<RawPeer> {
    const p = await RawPeer.connect(port, 0, allowHalfOpen);
    peers.push(p);
    return p;
  }

  afterEach(async () => {
    for (const p of peers.splice(0)) p.destroy();
    await helper.unload();
  });
  after((done) => {
    helper.stopServer(done);
  });

  describe("ack: auto", () => {
    it("answers AA built to the standard and forwards the text with msg.hl7 and msg._session", async () => {
      const port = await load({ ack: "auto" });
      const p = await peer(port);
      const got = receive("out");
      const text = adt("C-1");
      p.send(text);
      const [ack] = await p.waitAcks(1);
      const [msg] = await got;
      const raw = p.acks[0];
      const msh = segs(raw, "MSH");
      expect(msh.slice(1, 6)).to.deep.equal(["^~\\&", "EHR", "HB", "PMS", "CLINIC"]);
      expect(msh[8]).to.equal("ACK^A01^ACK");
      expect(msh[9]).to.not.equal("C-1");
      expect(msh[10]).to.equal("P");
      expect(msh[11]).to.equal("2.5.1");
      expect(segs(raw, "MSA")).to.deep.equal(["MSA", "AA", "C-1"]);
      expect(ack.code).to.equal("AA");
      expect(msg.payload).to.equal(text);
      expect(msg.topic).to.equal("ADT^A01");
      expect(msg.hl7).to.deep.equal({
        type: "ADT",
        event: "A01",
        structure: "ADT_A01",
        controlId: "C-1",
        version: "2.5.1",
        sendingApplication: "PMS",
        sendingFacility: "CLINIC",
        receivingApplication: "EHR",
        receivingFacility: "HB",
        timestamp: "20240301091500",
      });
      expect(msg._session).to.include({ type: "mllp", seq: 1 });
      expect(msg._session.id).to.be.a("string");
    });

    it("answers a malformed segment AE with ERR, sends nothing on, and raises HL7_PARSE for Catch", async () => {
      const port = await load({ ack: "auto" });
      const out = collect("out");
      const p = await peer(port);
      const caught = receive("caught");
      p.send(adt("BAD-1", { extra: ["pv1|1|I"] }));
      const [ack] = await p.waitAcks(1);
      expect(ack.code).to.equal("AE");
      expect(ack.controlId).to.equal("BAD-1");
      const err = segs(p.acks[0], "ERR");
      expect(err[2]).to.equal("pv1^1"); // ERR-2: the line's ID as read, sequence 1
      expect(err[3]).to.equal("100^Segment sequence error^HL70357");
      expect(err[4]).to.equal("E");
      expect(err[8]).to.match(/segment 4/);
      const [c] = await caught;
      expect(c.error.message).to.match(/HL7 parse error at segment 4/);
      expect(c.hl7.error).to.include({ code: "HL7_PARSE", position: 4 });
      expect(c.hl7.controlId).to.equal("BAD-1");
      expect(c.payload).to.include("pv1|1|I");
      expect(out).to.have.length(0);
    });

    it("locates a bad segment in ERR-2 by segment ID and field", async () => {
      const port = await load({ ack: "auto" });
      const p = await peer(port);
      p.send(adt("BAD-2", { extra: ["NTE|1||ab\u0000c"] }));
      const [ack] = await p.waitAcks(1);
      expect(ack.code).to.equal("AE");
      expect(segs(p.acks[0], "ERR")[2]).to.equal("NTE^1^3^1");
      expect(ack.error).to.include({ code: "102", location: "NTE-3" });
    });

    it("answers AR when the MSH is unusable, with an empty MSA-2 when there is no MSH at all", async () => {
      const port = await load({ ack: "auto" });
      const p = await peer(port);
      p.send("MSH|^~\\&|PMS|CLINIC|EHR|HB|20240301||ADT^A01|NOVER|P\rPID|1\r");
      p.send("this is not HL7");
      const acks = await p.waitAcks(2);
      expect(acks.map((a) => [a.code, a.controlId])).to.deep.equal([
        ["AR", "NOVER"],
        ["AR", ""],
      ]);
      expect(acks[0].error).to.include({ code: "101", location: "MSH-12" });
      expect(segs(p.acks[0], "MSH").slice(2, 6)).to.deep.equal(["EHR", "HB", "PMS", "CLINIC"]);
    });

    it("delivers 10,000 messages over one connection once each, in order, each answered AA", async function () {
      this.timeout(120_000);
      const port = await load({ ack: "auto" });
      const out = collect("out");
      const p = await peer(port);
      const N = 10_000;
      const frames: Buffer[] = [];
      for (let i = 0; i < N; i++) frames.push(Buffer.from(`\u000b${adt(`N-${i}`)}\u001c\r`));
      // written in uneven pieces, so frames straddle TCP reads
      const all = Buffer.concat(frames);
      for (let at = 0; at < all.length; at += 7919) p.write(all.subarray(at, at + 7919));
      const acks = await p.waitAcks(N, 90_000);
      // One more after them: once it is out, any extra copy of the N before it is out too.
      p.send(adt("MARK-1"));
      await until(() => out.length > N, 30_000, "10,000 messages and the marker");
      expect(out).to.have.length(N + 1);
      expect(out[N].hl7.controlId).to.equal("MARK-1");
      for (let i = 0; i < N; i++) {
        if (out[i].hl7.controlId !== `N-${i}`) expect.fail(`message ${i} is ${out[i].hl7.controlId}`);
        if (acks[i].code !== "AA" || acks[i].controlId !== `N-${i}`)
          expect.fail(`ACK ${i}: ${acks[i].controlId}`);
      }
      expect(new Set(out.map((m) => m._session.id)).size).to.equal(1);
      expect(out[N - 1]._session.seq).to.equal(N);
    });

    it("takes a 5 MB message", async () => {
      const port = await load({ ack: "auto" });
      const p = await peer(port);
      const got = receive("out");
      const big = adt("BIG-1", {
        extra: [`OBX|1|ED|PDF^Report||^AP^PDF^Base64^${"QUJD".repeat(1_310_720)}`],
      });
      expect(big.length).to.be.greaterThan(5 * 1024 * 1024);
      p.send(big);
      const [ack] = await p.waitAcks(1, 30_000);
      expect(ack.code).to.equal("AA");
      const [msg] = await got;
      expect(msg.payload.length).to.equal(big.length);
    });

    it("forgets a frame cut off by a dropped connection, and serves the next connection", async () => {
      const port = await load({ ack: "auto" });
      const out = collect("out");
      const p1 = await peer(port);
      const frame = Buffer.from(`\u000b${adt("CUT-1")}\u001c\r`);
      p1.write(frame.subarray(0, 120));
      await sleep(50);
      p1.destroy();
      await p1.closed;
      const p2 = await peer(port);
      p2.write(frame.subarray(120)); // the rest of the old frame: outside any frame here
      p2.send(adt("NEXT-1"));
      const acks = await p2.waitAcks(1);
      expect(acks[0].controlId).to.equal("NEXT-1");
      // A connection is handed on and answered in order: once NEXT-2 is out and answered, anything
      // the cut frame caused is too.
      p2.send(adt("NEXT-2"));
      await until(() => out.length >= 2, 5000, "the marker");
      expect((await p2.waitAcks(2)).map((a) => a.controlId)).to.deep.equal(["NEXT-1", "NEXT-2"]);
      expect(out.map((m) => m.hl7.controlId)).to.deep.equal(["NEXT-1", "NEXT-2"]);
    });

    it("discards junk between frames and still answers every frame", async () => {
      const port = await load({ ack: "auto" });
      const out = collect("out");
      const p = await peer(port);
      p.write("GET / HTTP/1.1\r\n\r\n");
      p.send(adt("J-1"));
      p.write("\r\n\n  garbage \u0000\u00ff");
      p.send(adt("J-2"));
      p.write("tail");
      const acks = await p.waitAcks(2);
      expect(acks.map((a) => a.controlId)).to.deep.equal(["J-1", "J-2"]);
      expect(out.map((m) => m.hl7.controlId)).to.deep.equal(["J-1", "J-2"]);
      const receiver = (helper.getNode("in") as any).receiver;
      p.end();
      await p.closed;
      await until(() => receiver.discarded > 0, 5000, "discarded count");
      expect(receiver.discarded).to.equal(18 + 16 + 4);
    });

    it("answers an oversized frame AR, destroys the connection and raises MLLP_OVERSIZE", async () => {
      const port = await load({ ack: "auto", maxBytes: "2000" });
      const out = collect("out");
      const p = await peer(port, true);
      const caught = receive("caught");
      p.send(adt("HUGE-1", { extra: [`NTE|1||${"x".repeat(5000)}`] }));
      const [ack] = await p.waitAcks(1);
      expect(ack.code).to.equal("AR");
      expect(ack.controlId).to.equal("HUGE-1");
      expect(ack.text).to.match(/maxBytes \(2000 bytes\)/);
      // The peer keeps its side open and writes on: only a destroyed connection closes it.
      p.keepWriting();
      await p.closed;
      await until(() => (helper.getNode("in") as any).receiver.connections === 0, 5000, "no connection");
      const [c] = await caught;
      expect(c.error.message).to.match(/larger than maxBytes/);
      expect(c.hl7.error).to.include({ code: "MLLP_OVERSIZE", maxBytes: 2000 });
      expect(out).to.have.length(0);
    });

    it("answers a repeat of an accepted message with its code and does not forward it (dedupe)", async () => {
      const port = await load({ ack: "auto", dedupe: "60" });
      const out = collect("out");
      const p = await peer(port);
      p.send(adt("D-1"));
      p.send(adt("D-1"));
      p.send(adt("D-2"));
      const acks = await p.waitAcks(3);
      expect(acks.map((a) => [a.code, a.controlId])).to.deep.equal([
        ["AA", "D-1"],
        ["AA", "D-1"],
        ["AA", "D-2"],
      ]);
      // another connection, same sender: still a repeat
      const p2 = await peer(port);
      p2.send(adt("D-1"));
      expect((await p2.waitAcks(1))[0].code).to.equal("AA");
      // handed on in order: once D-3 is out, the repeat before it would be too
      p2.send(adt("D-3"));
      await until(() => out.length >= 3, 5000, "the marker");
      expect(out.map((m) => m.hl7.controlId)).to.deep.equal(["D-1", "D-2", "D-3"]);
    });

    it("uses commit codes in enhanced mode (MSH-15 AL) and stays silent for MSH-15 NE", async () => {
      const port = await load({ ack: "auto" });
      const out = collect("out");
      const p = await peer(port);
      p.send(adt("E-1", { msh15: "NE" }));
      p.send(adt("E-2", { msh15: "AL" }));
      p.send(adt("E-3", { msh15: "ER", extra: ["bad"] }));
      const acks = await p.waitAcks(2);
      expect(acks.map((a) => [a.code, a.controlId])).to.deep.equal([
        ["CA", "E-2"],
        ["CE", "E-3"],
      ]);
      await until(() => out.length === 2, 5000, "forwarded");
      expect(out.map((m) => m.hl7.controlId)).to.deep.equal(["E-1", "E-2"]);
    });

    it("reports each outcome to the health bus under its integration name", async () => {
      const events: HealthEvent[] = [];
      const on = (e: HealthEvent): void => {
        if (e.source === "mllp-in") events.push(e);
      };
      healthBus().on(HEALTH_EVENT, on);
      try {
        const port = await load({ ack: "auto", integration: "pms-adt" });
        const p = await peer(port);
        p.send(adt("H-1"));
        p.send(adt("H-2", { extra: ["bad"] }));
        await p.waitAcks(2);
        await until(() => events.length === 2, 5000, "health events");
        expect(events.map((e) => [e.integration, e.success, e.error])).to.deep.equal([
          ["pms-adt", true, undefined],
          ["pms-adt", false, "HL7_PARSE"],
        ]);
        expect(events[0].durationMs).to.be.a("number");
      } finally {
        healthBus().off(HEALTH_EVENT, on);
      }
    });
  });

  describe("ack: flow (application acknowledgement)", () => {
    const replyFlow = (extra: Msg[] = []): Msg[] => [
      { id: "parse", z: TAB, type: "hl7-parse", wires: [["stored", "ok"]] },
      { id: "stored", z: TAB, type: "helper" },
      { id: "ok", z: TAB, type: "mllp-out", mode: "reply", ackCode: "AA", wires: [["replied"]] },
      { id: "replied", z: TAB, type: "helper" },
      { id: "catchParse", z: TAB, type: "catch", scope: ["parse"], uncaught: false, wires: [["nak"]] },
      { id: "nak", z: TAB, type: "mllp-out", mode: "reply", ackCode: "AE", wires: [["replied"]] },
      ...extra,
    ];

    it("leaves the answer to mllp-out reply: AA after storing, AE with ERR-5 from the Catch path", async () => {
      const port = await load({ ack: "flow", wires: [["parse"]] }, replyFlow(), false);
      const stored = collect("stored");
      const replied = collect("replied");
      const p = await peer(port);
      p.send(adt("F-1"));
      p.send(adt("F-2", { extra: ["PV1|1|I", "zz9|x"] }));
      p.send(adt("F-3"));
      const acks = await p.waitAcks(3);
      expect(acks.map((a) => [a.code, a.controlId])).to.deep.equal([
        ["AA", "F-1"],
        ["AE", "F-2"],
        ["AA", "F-3"],
      ]);
      expect(segs(p.acks[1], "ERR")[5]).to.equal("HL7_PARSE");
      expect(segs(p.acks[0], "MSH").slice(2, 6)).to.deep.equal(["EHR", "HB", "PMS", "CLINIC"]);
      expect(stored.map((m) => m.hl7.controlId)).to.deep.equal(["F-1", "F-3"]);
      await until(() => replied.length === 3, 5000, "replies");
      expect(replied.map((m) => m.hl7.ackCode)).to.deep.equal(["AA", "AE", "AA"]);
      expect(readAck(replied[0].hl7.ack.message).controlId).to.equal("F-1");
    });

    it("hands one message per connection to the flow at a time, in order", async () => {
      const port = await load({ ack: "flow", wires: [["seen"]] }, [
        { id: "seen", z: TAB, type: "helper" },
        { id: "reply", z: TAB, type: "mllp-out", mode: "reply", ackCode: "AA", wires: [[]] },
      ]);
      const seen = collect("seen");
      const p = await peer(port);
      // more than the 64 frames after which the connection is paused
      const ids = Array.from({ length: 150 }, (_, i) => `O-${i + 1}`);
      for (const id of ids) p.send(adt(id));
      await until(() => seen.length === 1, 5000, "first message");
      // Nothing signals that a message is held back (no marker passes the one with the flow), so
      // this absence is checked after a bounded wait.
      await sleep(200);
      expect(seen).to.have.length(1); // the rest wait for the answer
      const reply = helper.getNode("reply");
      let replied = 0;
      let most = 0;
      helper.getNode("seen").on("input", () => {
        most = Math.max(most, seen.length - replied);
        setImmediate(() => reply.receive(seen[replied++]));
      });
      reply.receive(seen[replied++]);
      const acks = await p.waitAcks(ids.length);
      expect(most).to.equal(1); // never two of one connection with the flow at once
      expect(acks.map((a) => a.controlId)).to.deep.equal(ids);
      expect(seen.map((m) => m.hl7.controlId)).to.deep.equal(ids);
    });

    it("answers AE itself when the flow does not answer in time, goes on, and refuses the late reply", async () => {
      const port = await load({ ack: "flow", replyTimeout: "1", wires: [["seen"]] }, [
        { id: "seen", z: TAB, type: "helper" },
        { id: "reply", z: TAB, type: "mllp-out", mode: "reply", ackCode: "AA", wires: [[]] },
      ]);
      const seen = collect("seen");
      const p = await peer(port);
      p.send(adt("T-1"));
      p.send(adt("T-2"));
      const [first] = await p.waitAcks(1, 5000);
      expect(first.code).to.equal("AE");
      expect(first.controlId).to.equal("T-1");
      expect(first.text).to.match(/no application acknowledgement within 1 s/);
      await until(() => seen.length === 2, 5000, "second message");
      const caught = receive("caught");
      helper.getNode("reply").receive(seen[0]);
      const [late] = await caught;
      expect(late.error.message).to.match(/after replyTimeout/);
      expect(late.hl7.error.code).to.equal("MLLP_REPLY_TIMEOUT");
      helper.getNode("reply").receive(seen[1]);
      const acks = await p.waitAcks(2);
      expect([acks[1].code, acks[1].controlId]).to.deep.equal(["AA", "T-2"]);
    });

    it("rejects a reply without msg._session, twice to one message, or to a closed connection", async () => {
      const port = await load({ ack: "flow", wires: [["seen"]] }, [
        { id: "seen", z: TAB, type: "helper" },
        { id: "reply", z: TAB, type: "mllp-out", mode: "reply", ackCode: "msg", wires: [["replied"]] },
        { id: "replied", z: TAB, type: "helper" },
      ]);
      const seen = collect("seen");
      const replied = collect("replied");
      const reply = helper.getNode("reply");
      let caught = receive("caught");
      reply.receive({ payload: "x", ackCode: "AA" });
      expect((await caught)[0].error.message).to.match(/msg._session/);

      const p = await peer(port);
      p.send(adt("R-1"));
      await until(() => seen.length === 1, 5000, "message");
      caught = receive("caught");
      reply.receive({ ...seen[0], ackCode: "OK" });
      expect((await caught)[0].hl7.error.code).to.equal("HL7_BAD_INPUT");
      reply.receive({ ...seen[0], ackCode: "AR", ackText: "duplicate patient" });
      const [ack] = await p.waitAcks(1);
      expect([ack.code, ack.text]).to.deep.equal(["AR", "duplicate patient"]);
      expect(ack.error?.text).to.equal("duplicate patient");
      caught = receive("caught");
      reply.receive({ ...seen[0], ackCode: "AA" });
      expect((await caught)[0].hl7.error.code).to.equal("MLLP_NO_SESSION");

      p.send(adt("R-2"));
      await until(() => seen.length === 2, 5000, "second message");
      p.destroy();
      await p.closed;
      await sleep(50);
      caught = receive("caught");
      reply.receive({ ...seen[1], ackCode: "AA" });
      expect((await caught)[0].hl7.error.code).to.equal("MLLP_CLOSED");
      expect(replied).to.have.length(1);
    });
  });

  describe("connections", () => {
    it("ack: none forwards without answering", async () => {
      const port = await load({ ack: "none" });
      const out = collect("out");
      const p = await peer(port);
      p.send(adt("N-1"));
      p.send(adt("N-2"));
      await until(() => out.length === 2, 5000, "messages");
      // In this mode nothing is ever answered, so no later answer can mark the end: a bounded wait.
      await sleep(100);
      expect(p.acks).to.have.length(0);
    });

    it("refuses connections beyond maxConnections and closes idle ones", async () => {
      const port = await load({ ack: "auto", maxConnections: "1", idleTimeout: "1" });
      const p1 = await peer(port);
      p1.send(adt("M-1"));
      await p1.waitAcks(1);
      const p2 = await peer(port);
      await p2.closed; // refused by the server
      await p1.closed; // idle for 1 s
      const p3 = await peer(port);
      p3.send(adt("M-3"));
      expect((await p3.waitAcks(1))[0].controlId).to.equal("M-3");
    });

    it("applies the limits when their properties are empty; 0 set explicitly means no limit", async () => {
      await load({ ack: "auto", maxConnections: "", idleTimeout: "", frameTimeout: "" });
      const r = (helper.getNode("in") as any).receiver;
      expect(r.options).to.include({ maxConnections: 100, idleTimeoutMs: 60_000, frameTimeoutMs: 30_000 });
      expect(r.byteLimit).to.equal(10 * 1024 * 1024);
      await helper.unload();
      await load({ ack: "auto", maxConnections: "0", idleTimeout: "0", frameTimeout: "0" });
      const open = (helper.getNode("in") as any).receiver;
      expect(open.options).to.include({ maxConnections: 0, idleTimeoutMs: 0, frameTimeoutMs: 0 });
    });

    it("reports each refusal to health-monitor by reason and shows refusals in the status", async () => {
      const refusals: RefusalEvent[] = [];
      const outcomes: HealthEvent[] = [];
      const onRefusal = (e: RefusalEvent): void => void refusals.push(e);
      const onHealth = (e: HealthEvent): void => void (e.source === "mllp-in" && outcomes.push(e));
      healthBus().on(REFUSAL_EVENT, onRefusal);
      healthBus().on(HEALTH_EVENT, onHealth);
      try {
        statuses.length = 0;
        const port = await load({
          ack: "auto",
          integration: "adt-feed",
          maxBytes: "2000",
          maxConnections: "1",
          frameTimeout: "1",
        });
        await until(() => statuses.length > 0, 5000, "a status");
        expect(statuses[statuses.length - 1]).to.deep.equal({
          fill: "green",
          shape: "dot",
          text: `listening :${port}`,
        });
        const slow = await peer(port);
        slow.write("\u000bMSH|^~\\&|PMS|CLINIC|EHR|HB|20240301||ADT^A01|SLOW-1|P|2.5.1\r");
        await until(() => (helper.getNode("in") as any).receiver.connections === 1, 5000, "connection");
        const extra = await peer(port); // over maxConnections: closed at once
        await extra.closed;
        const [late] = await slow.waitAcks(1, 5000);
        expect([late.code, late.controlId]).to.deep.equal(["AR", "SLOW-1"]);
        expect(late.text).to.match(/not complete within 1 s/);
        await slow.closed;
        const big = await peer(port);
        big.send(adt("HUGE-2", { extra: [`NTE|1||${"x".repeat(5000)}`] }));
        await big.closed;
        await until(() => refusals.length === 3, 5000, "three refusals");
        expect(refusals.map((e) => [e.integration, e.source, e.reason])).to.deep.equal([
          ["adt-feed", "mllp-in", "connection_limit"],
          ["adt-feed", "mllp-in", "frame_timeout"],
          ["adt-feed", "mllp-in", "oversize"],
        ]);
        expect(outcomes.map((e) => [e.success, e.error])).to.deep.equal([
          [false, "MLLP_FRAME_TIMEOUT"],
          [false, "MLLP_OVERSIZE"],
        ]);
        await until(() => statuses[statuses.length - 1]?.text === "3 refused", 5000, "the status");
        expect(statuses[statuses.length - 1]).to.deep.equal({
          fill: "yellow",
          shape: "ring",
          text: "3 refused",
        });
      } finally {
        healthBus().off(REFUSAL_EVENT, onRefusal);
        healthBus().off(HEALTH_EVENT, onHealth);
      }
    });

    it("processes other content under a known control ID, warns without PHI and reports a conflict", async () => {
      const refusals: RefusalEvent[] = [];
      const onRefusal = (e: RefusalEvent): void => void refusals.push(e);
      healthBus().on(REFUSAL_EVENT, onRefusal);
      try {
        const port = await load({ ack: "auto", dedupe: "60" });
        const out = collect("out");
        const warned: string[] = [];
        (helper.getNode("in") as unknown as EventEmitter).on("call:warn", (call: { args: unknown[] }) =>
          warned.push(String(call.args[0])),
        );
        const p = await peer(port);
        p.send(adt("NEXT-1", { extra: ["NTE|1||planted"] }));
        p.send(adt("NEXT-1"));
        p.send(adt("NEXT-1"));
        const acks = await p.waitAcks(3);
        expect(acks.map((a) => a.code)).to.deep.equal(["AA", "AA", "AA"]);
        // handed on in order: once NEXT-2 is out, the repeat before it would be too
        p.send(adt("NEXT-2"));
        await until(() => out.length === 3 && warned.length === 1, 5000, "three messages and a warning");
        expect(out.map((m) => m.payload)).to.deep.equal([
          adt("NEXT-1", { extra: ["NTE|1||planted"] }),
          adt("NEXT-1"),
          adt("NEXT-2"),
        ]);
        expect(warned[0]).to.equal(
          "MLLP_DEDUPE_CONFLICT: MSH-10 NEXT-1 from PMS/CLINIC was seen in the de-duplication window with other content: processed as a new message",
        );
        expect(refusals.map((e) => e.reason)).to.deep.equal(["dedupe_conflict"]);
      } finally {
        healthBus().off(REFUSAL_EVENT, onRefusal);
      }
    });

    it("loads a de-duplication window saved before contents were compared", async () => {
      const port = await load({ ack: "auto", dedupe: "60" });
      const node = helper.getNode("in") as any;
      node.receiver.restoreDedupe({ entries: [["PMS\u0000CLINIC\u0000OLD-1", "AA", Date.now() + 60_000]] });
      const out = collect("out");
      const p = await peer(port);
      p.send(adt("OLD-1"));
      p.send(adt("NEW-1"));
      const acks = await p.waitAcks(2);
      expect(acks.map((a) => [a.code, a.controlId])).to.deep.equal([
        ["AA", "OLD-1"],
        ["AA", "NEW-1"],
      ]);
      // handed on in order: OLD-1, sent first, would be out before NEW-1
      await until(() => out.length === 1, 5000, "the new message");
      expect(out.map((m) => m.hl7.controlId)).to.deep.equal(["NEW-1"]);
    });

    it("keeps its window in a message store entry by entry when its store names one: a repeat after a redeploy is answered from it", async () => {
      const userDir = mkdtempSync(join(tmpdir(), "pms-ehr-mllp-shared-"));
      const defaults = helper.settings({ userDir });
      try {
        const file = join(userDir, "shared.db");
        const flow = [
          { id: TAB, type: "tab", label: "mllp" },
          { id: "ms", type: "message-store", name: "shared", backend: "sqlite", file },
          {
            id: "in",
            z: TAB,
            type: "mllp-in",
            port: "0",
            host: "127.0.0.1",
            ack: "auto",
            dedupe: "60",
            dedupeStore: "message-store:ms",
            wires: [["out"]],
            x: 0,
            y: 0,
          },
          { id: "out", z: TAB, type: "helper", x: 0, y: 0 },
        ];
        await helper.load([...NODES, messageStoreNode], flow);
        let p = await peer(await portOf("in"));
        p.send(adt("MS-1"));
        const [first] = await p.waitAcks(1);
        expect(first.code).to.equal("AA");
        const firstAck = p.acks[0];
        await helper.unload();
        const db = new Database(file, { readonly: true });
        const rows = db.prepare("SELECT scope FROM state").all();
        db.close();
        expect(rows).to.deep.equal([{ scope: "node:in/mllp-dedupe" }]);
        expect(existsSync(join(userDir, "pms-ehr-state.db")), "not the state file").to.equal(false);

        await helper.load([...NODES, messageStoreNode], flow);
        const out = collect("out");
        p = await peer(await portOf("in"));
        p.send(adt("MS-1"));
        p.send(adt("MS-2"));
        await p.waitAcks(2);
        expect(p.acks[0], "the ACK sent the first time, byte for byte").to.equal(firstAck);
        await until(() => out.length === 1, 5000, "MS-2");
        expect(out.map((m) => m.hl7.controlId)).to.deep.equal(["MS-2"]);
      } finally {
        await helper.unload();
        helper.settings(defaults);
        rmSync(userDir, { recursive: true, force: true });
      }
    });

    it("sets the runtime's frame budget from settings.mllpInFrameBudget, and warns about a bad one", async () => {
      const defaults = helper.settings({});
      const budget = (v: unknown): void => void helper.settings({ mllpInFrameBudget: v } as never);
      try {
        budget(123_456);
        await load({ ack: "auto" });
        expect(sharedFrameBudget().limit).to.equal(123_456);
        await helper.unload();
        budget(0);
        await load({ ack: "auto" });
        expect(sharedFrameBudget().limit).to.equal(Number.POSITIVE_INFINITY);
        await helper.unload();
        budget("lots");
        await load({ ack: "auto" });
        expect(sharedFrameBudget().limit).to.equal(64 * 1024 * 1024);
        const spy = helper.log() as unknown as { args: Array<[{ level?: number; msg?: unknown }]> };
        const warned = spy.args.map(([e]) => String(e.msg)).filter((m) => m.includes("mllpInFrameBudget"));
        expect(warned).to.deep.equal([
          "mllp-in: settings.mllpInFrameBudget must be a number of bytes (0: no limit); using 64 MiB",
        ]);
      } finally {
        helper.settings(defaults);
        await helper.unload();
        await load({ ack: "auto" });
        expect(sharedFrameBudget().limit).to.equal(64 * 1024 * 1024);
      }
    });

    it("a property that is not a number in range is logged as MLLP_CONFIG and nothing listens", async () => {
      const cases: Array<[Record<string, unknown>, string]> = [
        [{ maxBytes: "10MB" }, 'maxBytes must be an integer >= 1, got "10MB"'],
        [{ idleTimeout: "-5" }, 'idleTimeout must be a number of seconds >= 0, got "-5"'],
        [{ maxConnections: "1.5" }, 'maxConnections must be an integer >= 0, got "1.5"'],
        [{ replyTimeout: "0" }, 'replyTimeout must be a number of seconds >= 1, got "0"'],
        [{ port: "70000" }, 'port must be an integer from 0 to 65535, got "70000"'],
        [{ port: "" }, "port is required (0 picks a free one)"],
      ];
      for (const [props, message] of cases) {
        statuses.length = 0;
        const port = await load({ ack: "auto", ...props });
        const spy = helper.log() as unknown as { args: Array<[{ level?: number; msg?: unknown }]> };
        const logged = spy.args.map(([e]) => String(e.msg)).filter((m) => m.endsWith(message));
        expect(logged, JSON.stringify(props)).to.deep.equal([`MLLP_CONFIG: mllp-in: ${message}`]);
        expect(port, "no listener").to.equal(undefined);
        expect(statuses.at(-1)).to.deep.include({ fill: "red", text: "bad config" });
        await helper.unload();
      }
    });

    it("releases its port on close", async () => {
      const port = await load({ ack: "auto" });
      await helper.unload();
      await new Promise<void>((resolve, reject) => {
        const s = net.createServer();
        s.once("error", reject);
        s.listen(port, "127.0.0.1", () => s.close(() => resolve()));
      });
    });
  });
});
