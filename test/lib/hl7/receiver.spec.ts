import { expect } from "chai";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type AckInfo,
  type Delivery,
  encodeFrame,
  FrameBudget,
  MllpDecoder,
  MllpReceiver,
  mllpSessions,
  type Outcome,
  readAck,
  dedupeKey,
  parseHeader,
  type ReceiverOptions,
  type RefusalReason,
  type Rejection,
  type SharedDedupeStore,
  shown,
} from "../../../lib/hl7";
import { openSqliteStore, type SqliteMessageStore } from "../../../lib/store/sqlite";

/**
 * MllpReceiver's limits and backpressure, against real sockets on loopback. The peers here
 * keep their side open (allowHalfOpen) unless told otherwise, so that a connection the
 * listener only ended, and did not destroy, would stay open.
 */

function adt(controlId: string, opts: { name?: string; time?: string; pad?: number } = {}): string {
  const app = opts.pad ? `PMS${"P".repeat(opts.pad)}` : "PMS";
  return (
    [
      `MSH|^~\\&|${app}|CLINIC|EHR|HB|${opts.time ?? "20240301091500"}||ADT^A01^ADT_A01|${controlId}|P|2.5.1`,
      "EVN|A01|20240301091500",
      `PID|1||${controlId}^^^CLINIC^MR||${opts.name ?? "Test^Patient"}||19800101|F`,
    ].join("\r") + "\r"
  );
}

class Peer {
  readonly acks: string[] = [];
  readonly closed: Promise<void>;
  private readonly decoder = new MllpDecoder({ frame: (b) => this.acks.push(b.toString("utf8")) });

  private constructor(readonly socket: net.Socket) {
    socket.on("data", (d: Buffer) => this.decoder.push(d));
    socket.on("error", () => undefined);
    this.closed = new Promise((resolve) => socket.once("close", () => resolve()));
  }

  static connect(port: number, allowHalfOpen = true): Promise<Peer> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: "127.0.0.1", port, allowHalfOpen }, () => resolve(new Peer(s)));
      s.once("error", reject);
    });
  }

  get isClosed(): boolean {
    return this.socket.destroyed;
  }

  send(text: string): void {
    this.socket.write(encodeFrame(text));
  }

  write(bytes: string | Buffer): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  async waitAcks(n: number, ms = 10_000): Promise<AckInfo[]> {
    await until(() => this.acks.length >= n, ms, `${n} ACKs (have ${this.acks.length})`);
    return this.acks.map((a) => readAck(a));
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** Resolves when the promise does within `ms`, else rejects naming `what`. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
    p.then(
      (v) => (clearTimeout(t), resolve(v)),
      (e: unknown) => (clearTimeout(t), reject(e as Error)),
    );
  });
}

interface Listener {
  r: MllpReceiver;
  port: number;
  delivered: Delivery[];
  rejected: Rejection[];
  warnings: Array<[string, string]>;
  refused: RefusalReason[];
  outcomes: Outcome[];
}

const started: MllpReceiver[] = [];
const peers: Peer[] = [];

async function listen(options: Partial<ReceiverOptions> = {}): Promise<Listener> {
  const l = {
    delivered: [] as Delivery[],
    rejected: [] as Rejection[],
    warnings: [] as Array<[string, string]>,
    refused: [] as RefusalReason[],
    outcomes: [] as Outcome[],
  };
  const r = new MllpReceiver(
    {
      host: "127.0.0.1",
      port: 0,
      ack: "auto",
      maxBytes: 10 * 1024 * 1024,
      dedupeSeconds: 0,
      idleTimeoutMs: 0,
      maxConnections: 0,
      replyTimeoutMs: 30_000,
      budget: new FrameBudget(),
      closeGraceMs: 300,
      ...options,
    },
    {
      message: (d) => l.delivered.push(d),
      rejected: (x) => l.rejected.push(x),
      warning: (code, text) => l.warnings.push([code, text]),
      refused: (reason) => l.refused.push(reason),
      outcome: (o) => l.outcomes.push(o),
    },
  );
  started.push(r);
  const { port } = await r.start();
  return { r, port, ...l };
}

async function peer(port: number, allowHalfOpen = true): Promise<Peer> {
  const p = await Peer.connect(port, allowHalfOpen);
  peers.push(p);
  return p;
}

/** Writes a byte now and then until the peer is closed, as a sender that will not let go. */
function keepWriting(p: Peer): void {
  const t = setInterval(() => (p.isClosed ? clearInterval(t) : p.write("x")), 50);
}

describe("lib/hl7 MllpReceiver limits", function () {
  this.timeout(20_000);

  afterEach(async () => {
    for (const p of peers.splice(0)) p.socket.destroy();
    for (const r of started.splice(0)) await r.stop();
  });

  it("answers a frame not complete within frameTimeout AR with the reason, then destroys the connection", async () => {
    const l = await listen({ frameTimeoutMs: 300 });
    const p = await peer(l.port);
    const frame = encodeFrame(adt("SLOW-1"));
    p.write(frame.subarray(0, 120));
    const [ack] = await p.waitAcks(1, 5000);
    expect([ack.code, ack.controlId]).to.deep.equal(["AR", "SLOW-1"]);
    expect(ack.text).to.equal("MLLP frame not complete within 0.3 s of its start: rejected");
    expect(ack.error?.code).to.equal("207");
    keepWriting(p);
    await within(p.closed, 3000, "the connection to be destroyed");
    await until(() => l.r.connections === 0, 2000, "no connection");
    expect(l.refused).to.deep.equal(["frame_timeout"]);
    expect(l.rejected.map((x) => [x.error.code, x.header?.controlId])).to.deep.equal([
      ["MLLP_FRAME_TIMEOUT", "SLOW-1"],
    ]);
    expect(l.outcomes.map((o) => [o.code, o.success, o.error])).to.deep.equal([
      ["AR", false, "MLLP_FRAME_TIMEOUT"],
    ]);
    expect(l.delivered).to.have.length(0);
  });

  it("gives each frame its own deadline from its start byte; nothing runs between frames", async () => {
    const l = await listen({ frameTimeoutMs: 400 });
    const p = await peer(l.port);
    const frame = encodeFrame(adt("PIECES-1"));
    p.write(frame.subarray(0, 50));
    await sleep(150);
    p.write(frame.subarray(50));
    await p.waitAcks(1);
    await sleep(600); // longer than the deadline, between frames
    const second = encodeFrame(adt("PIECES-2"));
    p.write(second.subarray(0, 50));
    await sleep(250);
    p.write(second.subarray(50));
    const acks = await p.waitAcks(2);
    expect(acks.map((a) => [a.code, a.controlId])).to.deep.equal([
      ["AA", "PIECES-1"],
      ["AA", "PIECES-2"],
    ]);
    expect(l.refused).to.deep.equal([]);
  });

  it("destroys a connection whose frame goes over maxBytes once it is answered AR, though the sender keeps it open", async () => {
    const l = await listen({ maxBytes: 1000 });
    const p = await peer(l.port);
    p.write(Buffer.concat([Buffer.from([0x0b]), Buffer.from(adt("BIG-1")), Buffer.alloc(5000, 0x41)]));
    const [ack] = await p.waitAcks(1);
    expect([ack.code, ack.controlId]).to.deep.equal(["AR", "BIG-1"]);
    expect(ack.text).to.match(/larger than maxBytes \(1000 bytes\)/);
    keepWriting(p);
    await within(p.closed, 3000, "the connection to be destroyed");
    await until(() => l.r.connections === 0, 2000, "no connection");
    expect(l.refused).to.deep.equal(["oversize"]);
  });

  it("answers nothing in ack: none mode, and answers CR to a sender in enhanced mode", async () => {
    const none = await listen({ ack: "none", maxBytes: 500 });
    const p1 = await peer(none.port, false);
    p1.write(Buffer.concat([Buffer.from([0x0b]), Buffer.alloc(1000, 0x41)]));
    await within(p1.closed, 3000, "close");
    expect(p1.acks).to.deep.equal([]);
    expect(none.refused).to.deep.equal(["oversize"]);
    const auto = await listen({ maxBytes: 500 });
    const p2 = await peer(auto.port);
    const enhanced = adt("ENH-1").replace("|P|2.5.1", "|P|2.5.1|||AL|NE");
    p2.write(Buffer.concat([Buffer.from([0x0b]), Buffer.from(enhanced), Buffer.alloc(1000, 0x41)]));
    const [ack] = await p2.waitAcks(1);
    expect([ack.code, ack.controlId]).to.deep.equal(["CR", "ENH-1"]);
  });

  it("refuses the connection whose bytes would go over the shared budget; the other listener's frame goes through", async () => {
    const budget = new FrameBudget(80_000);
    const a = await listen({ budget });
    const b = await listen({ budget });
    const pa = await peer(a.port);
    const big = encodeFrame(adt("HOLD-1", { name: `Long^${"N".repeat(60_000)}` }));
    pa.write(big.subarray(0, 50_000));
    await until(() => budget.used === 49_999, 5000, "the first frame held");
    const pb = await peer(b.port);
    pb.write(Buffer.concat([Buffer.from([0x0b]), Buffer.from(adt("OVER-1")), Buffer.alloc(40_000, 0x41)]));
    const [refusal] = await pb.waitAcks(1);
    expect([refusal.code, refusal.controlId]).to.deep.equal(["AR", "OVER-1"]);
    expect(refusal.text).to.equal(
      "MLLP listeners hold their byte budget (80000 bytes) of frames not yet handed on: rejected, resend later",
    );
    keepWriting(pb);
    await within(pb.closed, 3000, "the refused connection to be destroyed");
    expect(b.refused).to.deep.equal(["budget"]);
    expect(b.rejected[0].error.code).to.equal("MLLP_BUDGET");
    pa.write(big.subarray(50_000));
    const [ok] = await pa.waitAcks(1);
    expect([ok.code, ok.controlId]).to.deep.equal(["AA", "HOLD-1"]);
    expect(a.delivered).to.have.length(1);
    expect(budget.used).to.equal(0);
    expect(a.refused).to.deep.equal([]);
  });

  it("gives the budget back when a connection drops in the middle of a frame", async () => {
    const budget = new FrameBudget(1_000_000);
    const l = await listen({ budget });
    const p = await peer(l.port);
    p.write(Buffer.concat([Buffer.from([0x0b]), Buffer.alloc(300_000, 0x41)]));
    await until(() => budget.used === 300_000, 5000, "the frame held");
    expect(l.r.stats().heldBytes).to.equal(300_000);
    p.socket.destroy();
    await until(() => budget.used === 0, 5000, "the budget given back");
  });

  it("closes connections beyond maxConnections at once and counts them", async () => {
    const l = await listen({ maxConnections: 2 });
    const p1 = await peer(l.port);
    const p2 = await peer(l.port);
    await until(() => l.r.connections === 2, 2000, "two connections");
    const p3 = await peer(l.port);
    keepWriting(p3);
    await within(p3.closed, 3000, "the third connection closed");
    expect(l.refused).to.deep.equal(["connection_limit"]);
    expect(l.warnings[0][0]).to.equal("MLLP_CONNECTION_LIMIT");
    expect(l.warnings[0][1]).to.match(/from 127\.0\.0\.1 refused: 2 connections open/);
    p1.send(adt("LIM-1"));
    p2.send(adt("LIM-2"));
    expect((await p1.waitAcks(1))[0].code).to.equal("AA");
    expect((await p2.waitAcks(1))[0].code).to.equal("AA");
  });

  it("destroys a connection idle for idleTimeout and counts it", async () => {
    const l = await listen({ idleTimeoutMs: 200 });
    const p = await peer(l.port, false);
    await within(p.closed, 3000, "the idle connection closed");
    expect(l.refused).to.deep.equal(["idle_timeout"]);
  });

  it("reports the first refusals of each 10 s one by one and the number of the others", async () => {
    const l = await listen({ maxBytes: 100, reportsPer10s: 2 });
    for (let i = 0; i < 5; i++) {
      const p = await peer(l.port, false);
      p.write(Buffer.concat([Buffer.from([0x0b]), Buffer.alloc(500, 0x41)]));
      await within(p.closed, 3000, "close");
    }
    expect(l.refused).to.have.length(5);
    expect(l.rejected).to.have.length(2);
    await l.r.stop();
    expect(l.warnings).to.deep.equal([
      [
        "MLLP_REFUSED",
        "3 further refusals in the last 10 s not reported one by one (counted by reason for health-monitor)",
      ],
    ]);
  });

  it("keeps values from senders short and on one line in warnings", () => {
    expect(shown("A\r\nB\u0000C")).to.equal("A B C");
    expect(shown("x".repeat(1000))).to.equal(`${"x".repeat(63)}…`);
  });
});

describe("lib/hl7 MllpReceiver backpressure", function () {
  this.timeout(30_000);

  afterEach(async () => {
    for (const p of peers.splice(0)) p.socket.destroy();
    for (const r of started.splice(0)) await r.stop();
  });

  it("auto mode: stops reading from a sender that does not read its ACKs, and goes on when it does", async () => {
    const l = await listen({ ack: "auto" });
    const p = await peer(l.port, false);
    p.socket.pause(); // reads no ACK
    // Long MSH-3 values make long ACKs: the operating system's buffers fill sooner.
    const N = 20_000;
    const frames = Buffer.concat(
      Array.from({ length: N }, (_, i) => encodeFrame(adt(`BP-${i}`, { pad: 800 }))),
    );
    p.write(frames);
    await until(() => l.r.stats().paused === 1, 20_000, "the connection paused");
    const at = l.delivered.length;
    expect(at).to.be.lessThan(N);
    // Paused is the signal; that it holds (nothing read) can only be watched for a while.
    await sleep(300);
    const s = l.r.stats();
    expect(l.delivered.length).to.equal(at); // nothing read while paused
    expect(s.unsentBytes).to.be.lessThan(1024 * 1024);
    expect(s.heldBytes).to.be.lessThan(1024 * 1024);
    p.socket.resume();
    await p.waitAcks(N, 20_000);
    expect(l.delivered).to.have.length(N);
    expect(l.r.stats()).to.include({ paused: 0, heldBytes: 0 });
  });

  it("flow mode: pauses a connection at 64 waiting frames and holds the frame deadline while paused", async () => {
    const l = await listen({ ack: "flow", frameTimeoutMs: 1000 });
    const p = await peer(l.port);
    const frames = Array.from({ length: 70 }, (_, i) => encodeFrame(adt(`FL-${i}`)));
    const last = encodeFrame(adt("FL-LAST"));
    p.write(Buffer.concat([...frames, last.subarray(0, 40)]));
    await until(() => l.r.stats().paused === 1, 5000, "the connection paused");
    expect(l.delivered).to.have.length(1);
    await sleep(1500); // past the frame deadline, while the listener does not read
    expect(l.refused).to.deep.equal([]);
    for (let i = 0; i < 70; i++) {
      await until(() => l.delivered.length > i, 5000, `message ${i}`);
      await mllpSessions.reply(l.delivered[i].session, { code: "AA" });
    }
    p.write(last.subarray(40));
    await until(() => l.delivered.length === 71, 5000, "the last message");
    await mllpSessions.reply(l.delivered[70].session, { code: "AA" });
    const acks = await p.waitAcks(71);
    expect(acks.every((a) => a.code === "AA")).to.equal(true);
    expect(l.refused).to.deep.equal([]);
  });
});

describe("lib/hl7 MllpReceiver de-duplication conflicts", function () {
  this.timeout(20_000);

  afterEach(async () => {
    for (const p of peers.splice(0)) p.socket.destroy();
    for (const r of started.splice(0)) await r.stop();
  });

  it("processes other content under a known control ID as new, flags it without PHI, and still drops true repeats", async () => {
    const l = await listen({ ack: "auto", dedupeSeconds: 60 });
    const attacker = await peer(l.port);
    attacker.send(adt("NEXT-7", { name: "Fake^Person" }));
    expect((await attacker.waitAcks(1))[0].code).to.equal("AA");
    const sender = await peer(l.port);
    const real = adt("NEXT-7", { name: "Roe^Rita" });
    sender.send(real);
    sender.send(adt("NEXT-7", { name: "Roe^Rita", time: "20240301091733" })); // its resend, new MSH-7
    const acks = await sender.waitAcks(2);
    expect(acks.map((a) => [a.code, a.controlId])).to.deep.equal([
      ["AA", "NEXT-7"],
      ["AA", "NEXT-7"],
    ]);
    expect(l.delivered.map((d) => d.text)).to.deep.equal([adt("NEXT-7", { name: "Fake^Person" }), real]);
    expect(l.outcomes.map((o) => o.duplicate === true)).to.deep.equal([false, false, true]);
    expect(l.refused).to.deep.equal(["dedupe_conflict"]);
    expect(l.warnings).to.have.length(1);
    const [code, text] = l.warnings[0];
    expect(code).to.equal("MLLP_DEDUPE_CONFLICT");
    expect(text).to.equal(
      "MSH-10 NEXT-7 from PMS/CLINIC was seen in the de-duplication window with other content: processed as a new message",
    );
    expect(text).to.not.match(/Roe|Rita|Fake/);
  });

  it("flow mode: other content under the control ID of a message still with the flow does not wait for it", async () => {
    const l = await listen({ ack: "flow", dedupeSeconds: 60 });
    const p1 = await peer(l.port);
    const p2 = await peer(l.port);
    p1.send(adt("PEND-1", { name: "Fake^Person" }));
    await until(() => l.delivered.length === 1, 5000, "the first message");
    p2.send(adt("PEND-1", { name: "Roe^Rita" }));
    await until(() => l.delivered.length === 2, 5000, "the second message, not held back");
    expect(l.refused).to.deep.equal(["dedupe_conflict"]);
    await mllpSessions.reply(l.delivered[1].session, { code: "AA" });
    await mllpSessions.reply(l.delivered[0].session, { code: "AA" });
    expect((await p1.waitAcks(1))[0].code).to.equal("AA");
    expect((await p2.waitAcks(1))[0].code).to.equal("AA");
  });
});

describe("lib/hl7 MllpReceiver de-duplication shared by instances (a message store's state)", function () {
  this.timeout(20_000);
  let dir: string;
  let store: SqliteMessageStore;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "mllp-shared-"));
    store = openSqliteStore({ file: join(dir, "store.db") });
  });

  afterEach(async () => {
    for (const p of peers.splice(0)) p.socket.destroy();
    for (const r of started.splice(0)) await r.stop();
    await store.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  /** What two instances running one mllp-in share: the node's expiring state in one store. */
  function shared(gate?: Promise<void>): SharedDedupeStore {
    return {
      get: async (key) => {
        await gate;
        return store.getState("node:in/mllp-dedupe", key);
      },
      set: (key, value, expiresAt) => store.setState("node:in/mllp-dedupe", key, value, expiresAt),
    };
  }

  async function rows(): Promise<number> {
    let n = 0;
    for (const key of [dedupeKey(parseHeader(adt("S-1"))), dedupeKey(parseHeader(adt("S-2")))])
      if ((await store.getState("node:in/mllp-dedupe", key)) !== undefined) n += 1;
    return n;
  }

  it("answers a message another instance accepted with the ACK it sent, byte for byte, and does not hand it on", async () => {
    const a = await listen({ ack: "auto", dedupeSeconds: 60, sharedDedupe: shared() });
    const b = await listen({ ack: "auto", dedupeSeconds: 60, sharedDedupe: shared() });
    const pa = await peer(a.port);
    pa.send(adt("S-1"));
    await pa.waitAcks(1);
    await a.r.sharedWritten();
    const pb = await peer(b.port);
    pb.send(adt("S-1", { time: "20240301091733" })); // the resend, to the other instance, a new MSH-7
    pb.send(adt("S-1"));
    await pb.waitAcks(2);
    expect(pb.acks).to.deep.equal([pa.acks[0], pa.acks[0]]);
    expect(a.delivered).to.have.length(1);
    expect(b.delivered).to.have.length(0);
    expect(b.outcomes.map((o) => [o.code, o.duplicate])).to.deep.equal([
      ["AA", true],
      ["AA", true],
    ]);
    expect(await rows()).to.equal(1);
  });

  it("flow mode: shares the flow's accepted answer, not one it refused, so only an accepted message is a duplicate elsewhere", async () => {
    const a = await listen({ ack: "flow", dedupeSeconds: 60, sharedDedupe: shared() });
    const b = await listen({ ack: "flow", dedupeSeconds: 60, sharedDedupe: shared() });
    const pa = await peer(a.port);
    pa.send(adt("S-1"));
    pa.send(adt("S-2"));
    await until(() => a.delivered.length === 1, 5000, "S-1 with the flow");
    await mllpSessions.reply(a.delivered[0].session, { code: "AA" });
    await until(() => a.delivered.length === 2, 5000, "S-2 with the flow");
    await mllpSessions.reply(a.delivered[1].session, { code: "AE", text: "try later" });
    await pa.waitAcks(2);
    await a.r.sharedWritten();
    expect(await rows()).to.equal(1);
    const pb = await peer(b.port);
    pb.send(adt("S-1"));
    pb.send(adt("S-2"));
    await until(() => b.delivered.length === 1, 5000, "S-2 handed on by the other instance");
    expect(b.delivered[0].header.controlId).to.equal("S-2");
    await mllpSessions.reply(b.delivered[0].session, { code: "AA" });
    await pb.waitAcks(2);
    expect(pb.acks[0]).to.equal(pa.acks[0]);
    expect(readAck(pb.acks[1]).code).to.equal("AA");
  });

  it("processes other content under a control ID another instance accepted as new, and flags it", async () => {
    const a = await listen({ ack: "auto", dedupeSeconds: 60, sharedDedupe: shared() });
    const b = await listen({ ack: "auto", dedupeSeconds: 60, sharedDedupe: shared() });
    const pa = await peer(a.port);
    pa.send(adt("S-1", { name: "Fake^Person" }));
    await pa.waitAcks(1);
    await a.r.sharedWritten();
    const pb = await peer(b.port);
    pb.send(adt("S-1", { name: "Roe^Rita" }));
    await pb.waitAcks(1);
    expect(b.delivered.map((d) => d.text)).to.deep.equal([adt("S-1", { name: "Roe^Rita" })]);
    expect(b.refused).to.deep.equal(["dedupe_conflict"]);
    expect(b.warnings.map(([code]) => code)).to.deep.equal(["MLLP_DEDUPE_CONFLICT"]);
  });

  it("processes a message as new, with a warning and no PHI, when the shared store cannot be read or written", async () => {
    const b = await listen({ ack: "auto", dedupeSeconds: 60, sharedDedupe: shared() });
    await store.close();
    const pb = await peer(b.port);
    pb.send(adt("S-1", { name: "Roe^Rita" }));
    expect((await pb.waitAcks(1))[0].code).to.equal("AA");
    await b.r.sharedWritten();
    expect(b.delivered).to.have.length(1);
    expect(b.warnings.map(([code]) => code)).to.deep.equal(["MLLP_DEDUPE_STORE", "MLLP_DEDUPE_STORE"]);
    expect(b.warnings[0][1]).to.match(/could not be read .*: a message was processed as new$/);
    expect(b.warnings[1][1]).to.match(
      /could not be written .*: other instances will not know an accepted message$/,
    );
    expect(b.warnings.join(" ")).to.not.match(/Roe|Rita|S-1/);
  });

  it("holds a connection's later frames while it looks a message up; one whose sender left meanwhile is not handed on", async () => {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const b = await listen({ ack: "auto", dedupeSeconds: 60, sharedDedupe: shared(gate) });
    const leaving = await peer(b.port, false);
    leaving.send(adt("S-1"));
    await until(() => b.r.connections === 1, 5000, "the connection");
    await sleep(50);
    leaving.socket.destroy();
    await until(() => b.r.connections === 0, 5000, "the connection closed");
    const staying = await peer(b.port);
    staying.send(adt("S-1"));
    staying.send(adt("S-2"));
    await sleep(50);
    expect(b.delivered, "nothing before the store answers").to.have.length(0);
    open();
    await staying.waitAcks(2);
    expect(staying.acks.map((t) => [readAck(t).code, readAck(t).controlId])).to.deep.equal([
      ["AE", "S-1"],
      ["AA", "S-2"],
    ]);
    expect(b.delivered.map((d) => d.header.controlId)).to.deep.equal(["S-2"]);
    staying.send(adt("S-1"));
    await staying.waitAcks(3);
    expect(readAck(staying.acks[2]).code).to.equal("AA");
    expect(b.delivered.map((d) => d.header.controlId)).to.deep.equal(["S-2", "S-1"]);
  });
});
