import { expect } from "chai";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import net from "node:net";
import { promisify } from "node:util";
import { type AckInfo, encodeFrame, MllpDecoder, readAck } from "../../lib/hl7";
import { mllpPort } from "../support/mllp-port";
import { startRuntime, type FlowNode, type Runtime } from "../support/red-runtime";

/**
 * mllp-in under attack, in a real Node-RED runtime (child process) whose listeners leave every
 * limit empty, so that they run on the defaults a flow gets: 10 MiB per frame, 30 s per frame,
 * 100 connections, 60 s idle, 64 MiB of frames for the whole runtime. Over loopback:
 *
 * - frames that trickle in a byte at a time (started first: their deadline is 30 s);
 * - a control ID pre-sent under another sender's MSH-3/4 with other content;
 * - floods of complete frames to auto mode from senders that read no ACK, and to a flow that
 *   never answers;
 * - 200 connections, then a start byte and 4 MiB of a frame that never ends on each one taken.
 *
 * During each attack an admin API request must complete (its time is reported); at the end
 * the child's peak RSS (VmHWM) must be at most ATTACK_RSS_BUDGET_MB above its RSS at rest, and
 * health-monitor must have counted the refusals.
 */

const TAB = "adv-mllp";
/**
 * What the attacks may add to the runtime's RSS at rest (about 134 MB on Node-RED 4.1 and
 * Node 20, 160 MB on Node-RED 5 and Node 22): the 64 MiB of frames the budget lets the listeners
 * hold, the refused frames the garbage collector has not reclaimed yet (V8 collects buffers
 * about every 64 MB of them), and heap growth. Measured: 81-143 MB on Node 20, 82-207 MB on
 * Node 22; before the limits, 1,036 MB, and more with every connection.
 */
const ATTACK_RSS_BUDGET_MB = 256;
const ADMIN_BOUND_MS = 10_000;
const run = promisify(execFile);
const PROBE = `
const http = require("node:http");
const t = performance.now();
const req = http.get(process.argv[1], { headers: { accept: "application/json" }, timeout: ${ADMIN_BOUND_MS} }, (res) => {
  res.resume();
  res.on("end", () => console.log(res.statusCode + " " + (performance.now() - t).toFixed(1)));
});
req.on("timeout", () => req.destroy(new Error("timeout")));
req.on("error", (err) => console.log("failed " + err.message));
`;

/** An MLLP peer on a raw socket that keeps its side open (so that only a destroyed connection closes it). */
class Peer {
  readonly acks: string[] = [];
  readonly closed: Promise<void>;
  /** The listener ended the connection (this side stays open until it writes and meets a reset). */
  ended = false;
  private readonly decoder = new MllpDecoder({ frame: (b) => this.acks.push(b.toString("utf8")) });

  private constructor(readonly socket: net.Socket) {
    socket.on("data", (d: Buffer) => this.decoder.push(d));
    socket.on("end", () => (this.ended = true));
    socket.on("error", () => undefined);
    this.closed = new Promise((resolve) => socket.once("close", () => resolve()));
  }

  static connect(port: number): Promise<Peer> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: "127.0.0.1", port, allowHalfOpen: true }, () => resolve(new Peer(s)));
      s.once("error", reject);
    });
  }

  get isClosed(): boolean {
    return this.socket.destroyed;
  }

  write(bytes: string | Buffer): boolean {
    return this.socket.destroyed ? false : this.socket.write(bytes);
  }

  /** Writes `total` bytes of `chunk` repeated, waiting for the socket to drain; stops when it closes. */
  async pour(chunk: Buffer, total: number): Promise<number> {
    let written = 0;
    while (written < total && !this.isClosed) {
      if (!this.write(chunk)) {
        await Promise.race([new Promise((r) => this.socket.once("drain", r)), this.closed]);
      }
      written += chunk.length;
    }
    return written;
  }

  /** Writes `bytes` one every `ms`, then "x" every `ms`, until the connection is closed. */
  trickle(bytes: Buffer, ms: number): void {
    let i = 0;
    const t = setInterval(() => {
      if (this.isClosed) clearInterval(t);
      else this.write(i < bytes.length ? bytes.subarray(i, ++i) : "x");
    }, ms);
  }

  async waitAcks(n: number, ms: number): Promise<AckInfo[]> {
    await until(() => this.acks.length >= n, ms, `${n} ACKs (have ${this.acks.length})`);
    return this.acks.map((a) => readAck(a));
  }

  destroy(): void {
    this.socket.destroy();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
    p.then(
      (v) => (clearTimeout(t), resolve(v)),
      (e: unknown) => (clearTimeout(t), reject(e as Error)),
    );
  });
}

function msh(app: string, controlId: string, time = "20240301091500"): string {
  return `MSH|^~\\&|${app}|CLINIC|EHR|HB|${time}||ADT^A01^ADT_A01|${controlId}|P|2.5.1\r`;
}

function adt(controlId: string, opts: { app?: string; name?: string; time?: string } = {}): string {
  return (
    msh(opts.app ?? "PMS", controlId, opts.time) +
    `EVN|A01|20240301091500\rPID|1||${controlId}^^^CLINIC^MR||${opts.name ?? "Test^Patient"}||19800101|F\r`
  );
}

/** Every listener leaves its limits empty: the defaults. Port 0: it binds a free one and logs it. */
function listener(id: string, props: Record<string, string>, wires: string[]): FlowNode {
  return {
    id,
    type: "mllp-in",
    z: TAB,
    x: 100,
    y: 100,
    host: "127.0.0.1",
    port: "0",
    tls: "",
    ack: "",
    maxBytes: "",
    dedupe: "",
    dedupeStore: "",
    idleTimeout: "",
    maxConnections: "",
    frameTimeout: "",
    replyTimeout: "",
    ...props,
    wires: [wires],
  };
}

function flows(): FlowNode[] {
  const count = (id: string, key: string): FlowNode => ({
    id,
    type: "function",
    z: TAB,
    x: 300,
    y: 100,
    func: `global.set("${key}", (global.get("${key}") || 0) + 1);\nreturn null;`,
    outputs: 1,
    wires: [[]],
  });
  return [
    { id: TAB, type: "tab", label: "adversarial mllp" },
    listener("adv-auto", { integration: "adv-auto" }, ["adv-count-auto"]),
    count("adv-count-auto", "auto"),
    listener("adv-flow", { ack: "flow", integration: "adv-flow" }, ["adv-count-flow"]),
    count("adv-count-flow", "flow"),
    listener("adv-dedupe", { dedupe: "300", integration: "adv-dedupe" }, ["adv-seen"]),
    {
      id: "adv-seen",
      type: "function",
      z: TAB,
      x: 300,
      y: 200,
      // the test's made-up names stand for content here; a real flow would not log them
      func: 'node.warn("seen " + msg.hl7.controlId + " " + msg.payload.split("\\r")[2].split("|")[5]);\nreturn null;',
      outputs: 1,
      wires: [[]],
    },
    {
      id: "adv-count-in",
      type: "http in",
      z: TAB,
      x: 100,
      y: 300,
      url: "/adv/count",
      method: "get",
      wires: [["adv-count-read"]],
    },
    {
      id: "adv-count-read",
      type: "function",
      z: TAB,
      x: 300,
      y: 300,
      func: 'msg.payload = { auto: global.get("auto") || 0, flow: global.get("flow") || 0 };\nreturn msg;',
      outputs: 1,
      wires: [["adv-count-out"]],
    },
    { id: "adv-count-out", type: "http response", z: TAB, x: 500, y: 300, statusCode: "", wires: [] },
    {
      id: "adv-health",
      type: "health-monitor",
      z: TAB,
      x: 100,
      y: 400,
      integrations: "",
      window: "300",
      interval: "0",
      path: "/adv/health",
      wires: [[], []],
    },
  ];
}

describe("adversarial: mllp-in on its default limits in a real runtime", function () {
  this.timeout(90_000);
  let runtime: Runtime;
  let ports: { auto: number; flow: number; dedupe: number };
  const admin: Array<[string, number]> = [];
  const figures: string[] = [];
  const open: Peer[] = [];
  let trickling: Peer[] = [];
  let trickleStarted = 0;
  let atRestMb = 0;

  async function peer(port: number): Promise<Peer> {
    const p = await Peer.connect(port);
    open.push(p);
    return p;
  }

  /**
   * Times one admin API request (GET /flows), which must complete within ADMIN_BOUND_MS. It
   * is made and timed by a process of its own, since this one is busy being the attacker.
   */
  async function adminRequest(during: string): Promise<number> {
    const { stdout } = await run(process.execPath, ["-e", PROBE, `${runtime.url}/flows`], {
      timeout: ADMIN_BOUND_MS + 10_000,
    });
    const [status, ms] = stdout.trim().split(" ");
    expect(status, stdout).to.equal("200");
    admin.push([during, Number(ms)]);
    return Number(ms);
  }

  async function counts(): Promise<{ auto: number; flow: number }> {
    const res = await fetch(`${runtime.url}/adv/count`, { signal: AbortSignal.timeout(ADMIN_BOUND_MS) });
    return (await res.json()) as { auto: number; flow: number };
  }

  function memory(): { rssMb: number; hwmMb: number } {
    const status = readFileSync(`/proc/${runtime.process.child.pid}/status`, "utf8");
    const kb = (field: string): number =>
      Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1]);
    return { rssMb: kb("VmRSS") / 1024, hwmMb: kb("VmHWM") / 1024 };
  }

  before(async () => {
    runtime = await startRuntime({ flows: flows() });
    ports = {
      auto: await mllpPort(runtime, "adv-auto"),
      flow: await mllpPort(runtime, "adv-flow"),
      dedupe: await mllpPort(runtime, "adv-dedupe"),
    };
    atRestMb = memory().rssMb;
    figures.push(`RSS at rest ${atRestMb.toFixed(0)} MB`);
    // Five senders trickle a frame a byte every 200 ms: its header is in after 15 s, the
    // frame never ends; the deadline (30 s from the start byte) is checked by the last tests.
    trickleStarted = performance.now();
    trickling = await Promise.all(Array.from({ length: 5 }, () => peer(ports.auto)));
    trickling.forEach((p, i) => {
      p.write("\u000b");
      p.trickle(Buffer.from(`${msh("TRICKLE", `TR-${i}`)}PID|1||`), 200);
    });
  });

  after(async () => {
    for (const p of open.splice(0)) p.destroy();
    await runtime?.stop();
    const slowest = admin.reduce((a, b) => (b[1] > a[1] ? b : a), ["", 0] as [string, number]);
    // The figures for the report: what each attack cost the runtime.
    console.log(
      `      adversarial mllp: ${figures.join("; ")}; admin API ${admin
        .map(([d, ms]) => `${d} ${ms.toFixed(0)} ms`)
        .join(", ")} (slowest: ${slowest[0]} ${slowest[1].toFixed(0)} ms)`,
    );
  });

  it("processes a message whose control ID another sender pre-sent with other content, and still drops true repeats", async () => {
    const from = runtime.logs.length;
    const attacker = await peer(ports.dedupe);
    attacker.write(encodeFrame(adt("NEXT-100", { name: "Fake^Person" })));
    expect((await attacker.waitAcks(1, 5000))[0].code).to.equal("AA");
    const sender = await peer(ports.dedupe);
    sender.write(encodeFrame(adt("NEXT-100", { name: "Roe^Rita" })));
    expect((await sender.waitAcks(1, 5000)).map((a) => [a.code, a.controlId])).to.deep.equal([
      ["AA", "NEXT-100"],
    ]);
    await runtime.waitForLog(/seen NEXT-100 Roe\^Rita/, 5000, from);
    // its resend, with a new MSH-7, is a true repeat: answered AA and not processed again
    sender.write(encodeFrame(adt("NEXT-100", { name: "Roe^Rita", time: "20240301091733" })));
    expect((await sender.waitAcks(2, 5000))[1].code).to.equal("AA");
    await adminRequest("after dedupe poisoning");
    const lines = runtime.logs.slice(from);
    expect(lines.filter((l) => l.includes("seen NEXT-100"))).to.have.length(2);
    expect(lines.filter((l) => l.includes("seen NEXT-100 Roe^Rita"))).to.have.length(1);
    const conflict = lines.filter((l) => l.includes("MLLP_DEDUPE_CONFLICT"));
    expect(conflict).to.have.length(1);
    expect(conflict[0]).to.include("MSH-10 NEXT-100 from PMS/CLINIC");
    expect(conflict[0]).to.not.match(/Roe|Rita|Fake/);
  });

  it("stops reading from senders that flood auto mode and read no ACK; a polite sender is still answered", async () => {
    const before = (await counts()).auto;
    // Long MSH-3 values make long ACKs, so that the operating system's buffers fill sooner.
    const frame = encodeFrame(adt("FLOOD", { app: `PMS${"P".repeat(800)}` }));
    const batch = Buffer.concat(Array.from({ length: 256 }, () => frame));
    const flooders = await Promise.all(Array.from({ length: 10 }, () => peer(ports.auto)));
    for (const f of flooders) f.socket.pause(); // reads no ACK
    const sent = 10 * 40 * batch.length;
    const pouring = flooders.map((f) => f.pour(batch, 40 * batch.length));
    await sleep(3000);
    const polite = await peer(ports.auto);
    const t = performance.now();
    polite.write(encodeFrame(adt("POLITE-1")));
    const [ack] = await polite.waitAcks(1, 10_000);
    expect([ack.code, ack.controlId]).to.deep.equal(["AA", "POLITE-1"]);
    figures.push(`polite AA during the auto flood ${(performance.now() - t).toFixed(0)} ms`);
    await adminRequest("during the auto flood");
    // The senders go on writing: a count that stops growing means the listener stopped reading.
    let last = -1;
    let now = (await counts()).auto;
    const deadline = Date.now() + 20_000;
    while (now !== last) {
      if (Date.now() > deadline) throw new Error(`still reading after 20 s: ${now}`);
      await sleep(1000);
      last = now;
      now = (await counts()).auto;
    }
    const delivered = now - before - 1;
    figures.push(`auto flood: ${delivered} of ${sent / frame.length} frames read, then paused`);
    expect(delivered).to.be.lessThan(sent / frame.length);
    figures.push(`RSS after the auto flood ${memory().rssMb.toFixed(0)} MB`);
    for (const f of [...flooders, polite]) f.destroy();
    await Promise.all(pouring);
  });

  it("hands a flow that never answers one message per connection, and stops reading the rest", async () => {
    const frames = Buffer.concat(Array.from({ length: 500 }, (_, i) => encodeFrame(adt(`NA-${i}`))));
    const senders = await Promise.all(Array.from({ length: 10 }, () => peer(ports.flow)));
    const pouring = senders.map((s) => s.pour(frames, 20 * frames.length));
    const deadline = Date.now() + 10_000;
    while ((await counts()).flow < 10) {
      if (Date.now() > deadline) throw new Error("not one message per connection within 10 s");
      await sleep(100);
    }
    await adminRequest("during the flood to a silent flow");
    await sleep(1000); // no signal tells that nothing more comes: a second of the senders writing on
    expect((await counts()).flow).to.equal(10);
    figures.push(
      `RSS with 10 x ${((20 * frames.length) / 1048576).toFixed(0)} MiB sent to a silent flow ${memory().rssMb.toFixed(0)} MB`,
    );
    for (const s of senders) s.destroy();
    await Promise.all(pouring);
  });

  it("answers frames that trickle in AR at 30 s from their start byte and destroys their connections", async () => {
    await within(Promise.all(trickling.map((p) => p.closed)), 40_000, "the trickling connections closed");
    const seconds = (performance.now() - trickleStarted) / 1000;
    figures.push(`trickled frames refused after ${seconds.toFixed(1)} s`);
    expect(seconds).to.be.within(29, 40);
    for (const [i, p] of trickling.entries()) {
      const [ack] = p.acks.map((x) => readAck(x));
      expect([ack.code, ack.controlId]).to.deep.equal(["AR", `TR-${i}`]);
      expect(ack.text).to.equal("MLLP frame not complete within 30 s of its start: rejected");
    }
  });

  it("takes 100 of 200 connections, and refuses those whose 4 MiB of a frame that never ends go over 64 MiB", async () => {
    const peers = await Promise.all(Array.from({ length: 200 }, () => peer(ports.auto)));
    // Nothing sent yet, so nothing frees a place: the listener keeps 100 and ends the others.
    await until(() => peers.filter((p) => p.ended || p.isClosed).length >= 100, 10_000, "100 ended");
    const taken = peers.filter((p) => !p.ended && !p.isClosed);
    expect(taken).to.have.length(100);
    const chunk = Buffer.alloc(64 * 1024, 0x41);
    const pouring = Promise.all(
      taken.map((p, i) => {
        p.write(`\u000b${msh("BIG", `BIG-${i}`)}`);
        return p.pour(chunk, 4 * 1024 * 1024);
      }),
    );
    const adminMs = await adminRequest("during 100 x 4 MiB unfinished frames");
    await within(pouring, 30_000, "the senders done or refused");
    // A refused connection is destroyed a second after its AR at the latest; a sender that
    // has written all it had learns it (a reset) when it writes again.
    const refused = taken.filter((p) => p.acks.length > 0);
    for (const p of refused) p.trickle(Buffer.alloc(0), 50);
    await within(Promise.all(refused.map((p) => p.closed)), 5000, "the answered connections destroyed");
    const holding = taken.filter((p) => !p.isClosed);
    const mem = memory();
    figures.push(
      `100 x 4 MiB: ${refused.length} answered AR and destroyed, ${holding.length} holding, RSS ${mem.rssMb.toFixed(0)} MB, admin ${adminMs.toFixed(0)} ms`,
    );
    expect(refused.length + holding.length).to.equal(100);
    expect(holding.length).to.be.within(1, 16); // 64 MiB / 4 MiB
    for (const a of refused.map((p) => readAck(p.acks[0]))) {
      expect(a.code).to.equal("AR");
      expect(a.controlId).to.match(/^BIG-\d+$/);
      expect(a.text).to.equal(
        "MLLP listeners hold their byte budget (64 MiB) of frames not yet handed on: rejected, resend later",
      );
    }
    await adminRequest("with the budget held");
    for (const p of peers) p.destroy();
  });

  it("has counted every kind of refusal for health-monitor, and grew by less than its memory budget", async () => {
    const res = await fetch(`${runtime.url}/adv/health?format=prometheus`, {
      signal: AbortSignal.timeout(ADMIN_BOUND_MS),
    });
    const text = await res.text();
    const count = (integration: string, reason: string): number =>
      Number(
        new RegExp(
          `^pmsehr_refusals_total\\{integration="${integration}",source="mllp-in",reason="${reason}"\\} (\\d+)$`,
          "m",
        ).exec(text)?.[1] ?? 0,
      );
    expect(count("adv-auto", "frame_timeout")).to.equal(5);
    expect(count("adv-auto", "budget")).to.be.at.least(1);
    expect(count("adv-auto", "connection_limit")).to.equal(100);
    expect(count("adv-dedupe", "dedupe_conflict")).to.equal(1);
    await adminRequest("after the attacks");
    const { hwmMb } = memory();
    figures.push(`peak RSS (VmHWM) ${hwmMb.toFixed(0)} MB, ${(hwmMb - atRestMb).toFixed(0)} MB above rest`);
    expect(hwmMb - atRestMb).to.be.lessThan(ATTACK_RSS_BUDGET_MB);
  });
});
