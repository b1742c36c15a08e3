/* eslint-disable @typescript-eslint/no-explicit-any -- Node-RED messages are dynamic */
import { expect } from "chai";
import net from "node:net";
import helper from "node-red-node-test-helper";
import { stateInContext } from "../support/state";
import {
  type AckCode,
  buildAck,
  encodeFrame,
  type Hl7Header,
  MllpClient,
  MllpDecoder,
  mllpSessions,
  parseHeader,
  readAck,
} from "../../lib/hl7";
import mllpInNode from "../../nodes/mllp-in/mllp-in";
import mllpOutNode from "../../nodes/mllp-out/mllp-out";
import { type Msg, portOf, RawPeer, receive, until } from "./mllp-support";

helper.init(require.resolve("node-red"));

const TAB = "tab-ack-modes";
const CONDITIONS = ["AL", "NE", "ER", "SU"] as const;

/** An ADT^A01; MSH-15/MSH-16 as given ("" for original mode), MSH-7 as given. */
function adt(id: string, msh15 = "", msh16 = "", time = "20240301091500"): string {
  const ack = msh15 === "" && msh16 === "" ? "" : `|||${msh15}|${msh16}`;
  return (
    [
      `MSH|^~\\&|PMS|CLINIC|EHR|HB|${time}||ADT^A01^ADT_A01|${id}|P|2.5.1${ack}`,
      "EVN|A01|20240301091500",
      `PID|1||${id}^^^CLINIC^MR||Test^Patient||19800101|F`,
    ].join("\r") + "\r"
  );
}

function field(ack: string, segment: string, n: number): string {
  const line = ack.split("\r").find((l) => l.startsWith(segment));
  if (!line) throw new Error(`no ${segment} in ${ack}`);
  return line.split("|")[segment === "MSH" ? n - 1 : n] ?? "";
}

/** mllp-in (to "out"), an mllp-out in reply mode taking msg.ackCode (to "replied"), a Catch (to "caught"). */
async function load(inProps: Record<string, unknown>, extra: Msg[] = []): Promise<number> {
  const flow: any[] = [
    { id: TAB, type: "tab", label: "ack modes" },
    { id: "in", z: TAB, type: "mllp-in", port: "0", host: "127.0.0.1", wires: [["out"]], ...inProps },
    { id: "out", z: TAB, type: "helper" },
    { id: "reply", z: TAB, type: "mllp-out", mode: "reply", ackCode: "msg", wires: [["replied"]] },
    { id: "replied", z: TAB, type: "helper" },
    { id: "catch", z: TAB, type: "catch", scope: null, uncaught: false, wires: [["caught"]] },
    { id: "caught", z: TAB, type: "helper" },
    ...extra,
  ];
  await helper.load(
    [mllpInNode, mllpOutNode],
    flow.map((n) => (n.type === "tab" ? n : { x: 0, y: 0, ...n })),
  );
  return inProps.port === undefined ? portOf("in") : 0;
}

/** Answers `m` through the reply node with msg.ackCode = `code` (an ACK code or an outcome). */
async function reply(m: Msg, code: string, extra: Msg = {}): Promise<Msg> {
  const got = receive("replied");
  helper.getNode("reply").receive({ ...m, ackCode: code, ...extra });
  return (await got)[0];
}

/** Sends `text` and resolves with what mllp-in sent into the flow for it. */
async function deliver(p: RawPeer, text: string): Promise<Msg> {
  const got = receive("out");
  p.send(text);
  return (await got)[0];
}

/** Every ACK up to (and with) the one for control ID `last`: all of them, the frames being in order. */
async function acksUntil(p: RawPeer, last: string): Promise<string[]> {
  await until(() => p.acks.some((a) => readAck(a).controlId === last), 10_000, `the ACK of ${last}`);
  return p.acks.slice();
}

const summary = (acks: string[]): string[] => acks.map((a) => `${field(a, "MSA", 1)} ${field(a, "MSA", 2)}`);

/**
 * An MLLP listener that answers each message with what `script` returns (frames written in
 * order, each after its delay), and counts the messages it got.
 */
class ScriptedPeer {
  readonly received: string[] = [];
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();

  constructor(script: (text: string, h: Hl7Header) => Array<string | { text: string; delayMs: number }>) {
    this.server = net.createServer((socket) => {
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
      socket.on("error", () => undefined);
      const decoder = new MllpDecoder({
        frame: (b) => {
          const text = b.toString("utf8");
          this.received.push(text);
          let delay = 0;
          for (const step of script(text, parseHeader(text))) {
            const s = typeof step === "string" ? { text: step, delayMs: 0 } : step;
            delay += s.delayMs;
            setTimeout(() => socket.destroyed || socket.write(encodeFrame(s.text)), delay);
          }
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

describe("HL7 ACK modes: enhanced mode, stored ACKs, per-outcome codes (mllp-in, mllp-out)", function () {
  stateInContext();
  this.timeout(20_000);
  const peers: RawPeer[] = [];
  const scripted: ScriptedPeer[] = [];
  async function peer(port: number): Promise<RawPeer> {
    const p = await RawPeer.connect(port);
    peers.push(p);
    return p;
  }
  async function scriptedPeer(script: ConstructorParameters<typeof ScriptedPeer>[0]): Promise<number> {
    const s = new ScriptedPeer(script);
    scripted.push(s);
    return s.listen();
  }

  afterEach(async () => {
    for (const p of peers.splice(0)) p.destroy();
    for (const s of scripted.splice(0)) await s.close();
    await helper.unload();
  });
  after((done) => {
    helper.stopServer(done);
  });

  describe("mllp-in, ack: flow, enhanced mode", () => {
    it("sends the commit and application ACKs each MSH-15/MSH-16 combination asks for, in order", async () => {
      const p = await peer(await load({ ack: "flow" }));
      const onSuccess = (c: string): boolean => c === "AL" || c === "SU";
      const onError = (c: string): boolean => c === "AL" || c === "ER";
      const expected: string[] = [];
      for (const a of CONDITIONS) {
        for (const b of CONDITIONS) {
          // The durable-queue pattern: CA once the message is stored, AA once delivered.
          const ok = `S${a}${b}`;
          const m = await deliver(p, adt(ok, a, b));
          expect(m.hl7).to.include({ acceptAckType: a, applicationAckType: b });
          const commit = await reply(m, "CA");
          const app = await reply(m, "AA");
          expect(commit.hl7.ack.code).to.equal("CA");
          expect(commit.hl7.ack.message === "").to.equal(!onSuccess(a));
          expect(app.hl7.ack.message === "").to.equal(!onSuccess(b));
          if (onSuccess(a)) expected.push(`CA ${ok}`);
          if (onSuccess(b)) expected.push(`AA ${ok}`);
          // An error given at once: the commit error it implies, then the application error.
          const bad = `E${a}${b}`;
          const n = await deliver(p, adt(bad, a, b));
          const failed = await reply(n, "AE", { ackText: "FHIR_HTTP_503" });
          expect(failed.hl7.commitAck.code).to.equal("CE");
          if (onError(a)) expected.push(`CE ${bad}`);
          if (onError(b)) expected.push(`AE ${bad}`);
        }
      }
      // An application accept given at once: CA, then AA.
      const both = await deliver(p, adt("BOTH", "AL", "AL"));
      const r = await reply(both, "AA");
      expect([r.hl7.commitAck.code, r.hl7.ackCode]).to.deep.equal(["CA", "AA"]);
      expected.push("CA BOTH", "AA BOTH");
      // Original mode, last: everything before it has arrived when its ACK has.
      await reply(await deliver(p, adt("END")), "AA");
      expected.push("AA END");
      const acks = await acksUntil(p, "END");
      expect(summary(acks)).to.deep.equal(expected);
      // Each ACK to the standard, and the one mllp-out reported is the one on the wire.
      const ca = acks[expected.indexOf("CA BOTH")];
      const aa = acks[expected.indexOf("AA BOTH")];
      expect(r.hl7.commitAck.message).to.equal(ca);
      expect(r.hl7.ack.message).to.equal(aa);
      for (const ack of [ca, aa]) {
        expect([3, 4, 5, 6, 9, 12].map((f) => field(ack, "MSH", f))).to.deep.equal([
          "EHR",
          "HB",
          "PMS",
          "CLINIC",
          "ACK^A01^ACK",
          "2.5.1",
        ]);
      }
      expect(field(ca, "MSH", 10)).to.not.equal(field(aa, "MSH", 10));
      const ce = acks[expected.indexOf("CE EALAL")];
      expect(field(ce, "MSA", 3)).to.equal("FHIR_HTTP_503");
      expect(field(ce, "ERR", 3)).to.equal("207^Application internal error^HL70357");
    });

    it("sends the application ACK for a msg that kept only msg.hl7 (a durable-queue delivery)", async () => {
      const p = await peer(await load({ ack: "flow" }));
      // "accepted" (a durable-queue's first output): AA in original mode, which has no other ACK
      const orig = await deliver(p, adt("Q-0"));
      expect(orig.hl7).to.not.have.any.keys("session", "acceptAckType", "applicationAckType");
      expect((await reply(orig, "accepted")).hl7.ackCode).to.equal("AA");
      const m = await deliver(p, adt("Q-1", "AL", "AL"));
      expect(m.hl7.session).to.deep.equal({ id: m._session.id, seq: m._session.seq });
      // and CA in enhanced mode, so that the application ACK can follow
      expect((await reply(m, "accepted")).hl7.ackCode).to.equal("CA");
      // The next message of the connection is with the flow while Q-1 waits for its delivery.
      const next = await deliver(p, adt("Q-2", "AL", "AL"));
      await reply(next, "CA");
      const stored = JSON.parse(JSON.stringify({ payload: m.payload, hl7: m.hl7 }));
      const done = await reply(stored, "AA");
      expect(done.hl7.ackCode).to.equal("AA");
      await reply({ payload: next.payload, hl7: next.hl7 }, "error", { error: { code: "HL7_CONVERT" } });
      expect(summary(await acksUntil(p, "Q-2")).slice(-1)).to.deep.equal(["AE Q-2"]);
      expect(summary(p.acks)).to.deep.equal(["AA Q-0", "CA Q-1", "CA Q-2", "AA Q-1", "AE Q-2"]);
      expect(field(p.acks[4], "ERR", 5)).to.equal("HL7_CONVERT");
    });

    it("refuses a commit code after the commit, and an unknown MSH-15/MSH-16 value, with coded errors", async () => {
      const p = await peer(await load({ ack: "flow" }));
      const m = await deliver(p, adt("T-1", "AL", "AL"));
      await reply(m, "CA");
      const caught = receive("caught");
      helper.getNode("reply").receive({ ...m, ackCode: "CE" });
      const [e] = await caught;
      expect(e.error.code).to.equal("MLLP_NO_SESSION");
      expect(e.error.message).to.contain("already committed");
      // msg.hl7.session that names no connection; a reply with neither code nor outcome
      const lost = receive("caught");
      helper
        .getNode("reply")
        .receive({ payload: m.payload, hl7: { ...m.hl7, session: { id: 42 } }, ackCode: "AA" });
      expect((await lost)[0].error.code).to.equal("MLLP_NO_SESSION");
      const none = await mllpSessions.reply(m._session, {}).then(
        () => undefined,
        (err: { code?: string }) => err.code,
      );
      expect(none).to.equal("HL7_BAD_INPUT");
      for (const [id, a, b, field15or16] of [
        ["X-15", "XX", "AL", "15"],
        ["X-16", "AL", "YY", "16"],
      ]) {
        const got = receive("caught");
        p.send(adt(id, a, b));
        const [err] = await got;
        expect(err.error.code).to.equal("HL7_ACK_TYPE");
        expect(err.hl7.error).to.include({ segment: "MSH", field: Number(field15or16), hl7ErrorCode: 103 });
        const [ack] = (await acksUntil(p, id)).slice(-1);
        expect(field(ack, "MSA", 1)).to.equal("CR");
        expect(field(ack, "ERR", 2)).to.equal(`MSH^1^${field15or16}^1`);
        expect(field(ack, "ERR", 3)).to.equal("103^Table value not found^HL70357");
      }
      expect(summary(p.acks)).to.deep.equal(["CA T-1", "CR X-15", "CR X-16"]);
    });

    it("answers a reply timeout with the failed code, as a commit error in enhanced mode", async () => {
      const p = await peer(await load({ ack: "flow", replyTimeout: "1", ackFailed: "AR" }));
      await deliver(p, adt("RT-1"));
      await deliver(p, adt("RT-2", "AL", "NE"));
      await acksUntil(p, "RT-2");
      expect(summary(p.acks)).to.deep.equal(["AR RT-1", "CR RT-2"]);
    });
  });

  describe("per-outcome ACK codes", () => {
    it("answers filtered, invalid and failed messages with the codes mllp-in is given", async () => {
      const p = await peer(await load({ ack: "flow", ackFiltered: "AA", ackInvalid: "AR", ackFailed: "AE" }));
      const cases: Array<[string, string, Msg, string]> = [
        ["O-1", "filtered", {}, "AA"],
        ["O-2", "invalid", {}, "AR"],
        ["O-3", "failed", {}, "AE"],
        ["O-4", "error", { error: { code: "HL7_UNSUPPORTED" } }, "AR"],
        ["O-5", "error", { error: { code: "FHIR_HTTP_422" } }, "AR"],
        ["O-6", "error", { error: { code: "FHIR_HTTP_503" } }, "AE"],
        ["O-7", "error", { error: { code: "FHIR_NETWORK" } }, "AE"],
        ["O-8", "error", {}, "AE"],
      ];
      for (const [id, outcome, extra, code] of cases) {
        const r = await reply(await deliver(p, adt(id)), outcome, extra);
        expect([id, r.hl7.ackCode]).to.deep.equal([id, code]);
      }
      // enhanced: the commit error, then the application code
      const r = await reply(await deliver(p, adt("O-9", "AL", "AL")), "invalid");
      expect([r.hl7.commitAck.code, r.hl7.ackCode]).to.deep.equal(["CR", "AR"]);
      await acksUntil(p, "O-9");
      expect(summary(p.acks)).to.deep.equal([
        ...cases.map(([id, , , code]) => `${code} ${id}`),
        "CR O-9",
        "AR O-9",
      ]);
    });

    it("auto mode: a message whose later segment does not parse gets the invalid code", async () => {
      const p = await peer(await load({ ack: "auto", ackInvalid: "AR" }));
      const caught = receive("caught");
      p.send(`${adt("BAD-1")}pv1|1|I\r`);
      const [e] = await caught;
      expect(e.error.code).to.equal("HL7_PARSE");
      const [ack] = await acksUntil(p, "BAD-1");
      expect(field(ack, "MSA", 1)).to.equal("AR");
    });

    it("refuses ACK codes outside those allowed: the listener does not start", async () => {
      for (const bad of [{ ackInvalid: "AA" }, { ackFailed: "CA" }, { ackFiltered: "XX" }]) {
        await load({ ack: "flow", port: "0", ...bad });
        const node = helper.getNode("in") as unknown as { receiver?: unknown };
        expect(node.receiver, JSON.stringify(bad)).to.equal(undefined);
        const spy = helper.log() as unknown as { args: Array<[{ level?: number; msg?: unknown }]> };
        const name = Object.keys(bad)[0];
        expect(spy.args.some(([l]) => String(l.msg).includes(`${name} must be`))).to.equal(true);
        await helper.unload();
      }
    });
  });

  describe("repeats get the ACKs sent the first time", () => {
    it("byte for byte, commit and application ACK, also after the window was saved and restored", async () => {
      const port = await load({ ack: "flow", dedupe: "60" });
      const p = await peer(port);
      const m = await deliver(p, adt("D-1", "AL", "AL"));
      await reply(m, "CA");
      await reply(m, "AA");
      await reply(await deliver(p, adt("D-2")), "AA");
      const first = await acksUntil(p, "D-2");
      expect(summary(first)).to.deep.equal(["CA D-1", "AA D-1", "AA D-2"]);
      // Resent with a new MSH-7: not sent into the flow, answered with the same bytes.
      const forwarded: Msg[] = [];
      helper.getNode("out").on("input", (x: Msg) => forwarded.push(x));
      p.send(adt("D-1", "AL", "AL", "20240301093000"));
      p.send(adt("D-2", "", "", "20240301093000"));
      await until(() => p.acks.length === 6, 10_000, "three ACKs for the repeats");
      expect(p.acks.slice(3)).to.deep.equal(first);
      expect(forwarded).to.deep.equal([]);
      // The window as saved (node context) and loaded by a new listener: the same bytes again.
      const snap = (helper.getNode("in") as any).receiver.snapshotDedupe();
      expect(JSON.parse(JSON.stringify(snap)).entries.map((e: unknown[]) => e[4])).to.deep.equal([
        first.slice(0, 2),
        first.slice(2),
      ]);
      await helper.unload();
      const port2 = await load({ ack: "flow", dedupe: "60" });
      (helper.getNode("in") as any).receiver.restoreDedupe(JSON.parse(JSON.stringify(snap)));
      const q = await peer(port2);
      q.send(adt("D-1", "AL", "AL", "20240301100000"));
      await until(() => q.acks.length === 2, 10_000, "the stored ACKs");
      expect(q.acks).to.deep.equal(first.slice(0, 2));
    });

    it("auto mode: the same AA bytes; MSH-15 NE: nothing, the first time and again", async () => {
      const p = await peer(await load({ ack: "auto", dedupe: "60" }));
      await deliver(p, adt("A-1"));
      await deliver(p, adt("A-2", "NE", "NE"));
      await deliver(p, adt("A-3"));
      p.send(adt("A-1", "", "", "20240301120000"));
      p.send(adt("A-2", "NE", "NE", "20240301120000"));
      p.send(adt("A-3", "", "", "20240301120000"));
      await until(() => p.acks.length === 4, 10_000, "four ACKs");
      expect(summary(p.acks)).to.deep.equal(["AA A-1", "AA A-3", "AA A-1", "AA A-3"]);
      expect(p.acks.slice(2)).to.deep.equal(p.acks.slice(0, 2));
    });
  });

  describe("mllp-out send, enhanced mode", () => {
    async function loadSender(port: number, props: Msg = {}): Promise<void> {
      const flow: any[] = [
        { id: TAB, type: "tab", label: "send" },
        ...[
          {
            id: "send",
            type: "mllp-out",
            mode: "send",
            host: "127.0.0.1",
            port: String(port),
            timeout: "2000",
            retries: "1",
            appAckTimeout: "300",
            wires: [["sent"]],
            ...props,
          },
          { id: "sent", type: "helper" },
          { id: "catch", type: "catch", scope: null, uncaught: false, wires: [["caught"]] },
          { id: "caught", type: "helper" },
        ].map((n) => ({ x: 0, y: 0, z: TAB, ...n })),
      ];
      await helper.load([mllpOutNode], flow);
    }

    const ack = (h: Hl7Header, code: AckCode): string => buildAck(h, code);

    /** The msg mllp-out sent on, or the one its error brought to the Catch node. */
    function send(text: string): Promise<{ ok?: Msg; err?: Msg }> {
      const sent = helper.getNode("sent");
      const caught = helper.getNode("caught");
      return new Promise((resolve, reject) => {
        const finish = (r: { ok?: Msg; err?: Msg } | Error): void => {
          clearTimeout(timer);
          sent.removeListener("input", onOk);
          caught.removeListener("input", onErr);
          if (r instanceof Error) reject(r);
          else resolve(r);
        };
        const onOk = (m: Msg): void => finish({ ok: m });
        const onErr = (m: Msg): void => finish({ err: m });
        const timer = setTimeout(() => finish(new Error("no outcome within 5 s")), 5000);
        sent.on("input", onOk);
        caught.on("input", onErr);
        helper.getNode("send").receive({ payload: text });
      });
    }

    it("reports the commit ACK and the application ACK that follows it", async () => {
      const frames: string[] = [];
      const port = await scriptedPeer((_t, h) => {
        const acks = [ack(h, "CA"), { text: ack(h, "AA"), delayMs: 50 }];
        frames.push(acks[0] as string, (acks[1] as { text: string }).text);
        return acks;
      });
      await loadSender(port);
      const { ok } = await send(adt("M-1", "AL", "AL"));
      expect(ok!.hl7.ackCode).to.equal("AA");
      expect(ok!.hl7.ack).to.include({ code: "AA", controlId: "M-1", message: frames[1] });
      expect(ok!.hl7.commitAck).to.include({ code: "CA", controlId: "M-1", message: frames[0] });
    });

    it("CA and no application ACK: MLLP_APP_ACK_TIMEOUT, not resent; under MSH-16 ER the CA is the success", async () => {
      const peerPort = await scriptedPeer((_t, h) => [ack(h, "CA")]);
      await loadSender(peerPort);
      const { err } = await send(adt("M-2", "AL", "AL"));
      expect(err!.error.code).to.equal("MLLP_APP_ACK_TIMEOUT");
      expect(err!.hl7.error).to.include({
        code: "MLLP_APP_ACK_TIMEOUT",
        commitCode: "CA",
        appAckTimeoutMs: 300,
      });
      const { err: su } = await send(adt("M-3", "AL", "SU"));
      expect(su!.error.code).to.equal("MLLP_APP_ACK_TIMEOUT");
      const { ok } = await send(adt("M-4", "AL", "ER"));
      expect(ok!.hl7.ackCode).to.equal("CA");
      expect(ok!.hl7).to.not.have.property("commitAck");
      // MSH-16 NE and original mode: the CA resolves at once, as before.
      const { ok: ne } = await send(adt("M-5", "AL", "NE"));
      expect(ne!.hl7.ackCode).to.equal("CA");
      const { ok: orig } = await send(adt("M-6"));
      expect(orig!.hl7.ackCode).to.equal("CA");
      const received = scripted[0].received.map((t) => parseHeader(t).controlId);
      expect(received).to.deep.equal(["M-2", "M-3", "M-4", "M-5", "M-6"]);
    });

    it("CA then AE: MLLP_NAK with both ACKs", async () => {
      const port = await scriptedPeer((_t, h) => [
        ack(h, "CA"),
        buildAck(h, "AE", { text: "no such patient" }),
      ]);
      await loadSender(port);
      const { err } = await send(adt("M-7", "AL", "AL"));
      expect(err!.error.code).to.equal("MLLP_NAK");
      expect(err!.hl7.ackCode).to.equal("AE");
      expect(err!.hl7.error).to.include({ ackCode: "AE", commitCode: "CA", text: "no such patient" });
      expect(readAck(err!.hl7.error.commit).code).to.equal("CA");
    });

    it("a malformed ACK fails with MLLP_BAD_ACK at once", async () => {
      const answers: Record<string, (h: Hl7Header) => string> = {
        "B-1": () => "not HL7 at all",
        "B-2": (h) => ack(h, "AA").replace("MSA|AA|", "MSA|ZZ|"),
        "B-3": (h) => ack(h, "AA").split("\r")[0] + "\r",
        // after a good CA, a malformed application ACK
        "B-4": (h) => ack(h, "CA"),
      };
      const port = await scriptedPeer((_t, h) =>
        h.controlId === "B-4" ? [answers["B-4"](h), "MSH|^~\\&|X\rMSA|\r"] : [answers[h.controlId](h)],
      );
      await loadSender(port);
      for (const id of ["B-1", "B-2", "B-3", "B-4"]) {
        const { err } = await send(adt(id, id === "B-4" ? "AL" : "", id === "B-4" ? "AL" : ""));
        expect([id, err!.error.code]).to.deep.equal([id, "MLLP_BAD_ACK"]);
        expect(err!.hl7.error.reason).to.be.a("string").and.not.equal("");
      }
      expect(scripted[0].received).to.have.length(4); // none resent
    });

    it("against mllp-in: the flow's CA, then its AA, reach the sender as one result", async () => {
      const port = await load({ ack: "flow" });
      const client = new MllpClient({
        host: "127.0.0.1",
        port,
        timeoutMs: 2000,
        retries: 0,
        queueSize: 10,
        appAckTimeoutMs: 5000,
      });
      try {
        const delivered = receive("out");
        const result = client.send(adt("E2E-1", "AL", "AL"), "E2E-1", "AL");
        const [m] = await delivered;
        await reply(m, "CA");
        await reply({ payload: m.payload, hl7: m.hl7 }, "AA");
        const r = await result;
        expect([r.commit?.code, r.ack.code]).to.deep.equal(["CA", "AA"]);
      } finally {
        await client.close();
      }
    });
  });
});
