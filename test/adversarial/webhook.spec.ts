import { expect } from "chai";
import { readFileSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { once } from "node:events";
import { startRuntime, type FlowNode, type Runtime } from "../support/red-runtime";

/**
 * Hostile senders against webhook-in in a real Node-RED (child process, loopback) with
 * httpNodeAuth on: oversized bodies with and without Content-Length, with and without
 * credentials, bodies trickled a few bytes a second, many oversized uploads at once. Each
 * attack asserts the answer, that the server closed the connection where webhook-in answers,
 * that nothing reached the flow, and the growth of the Node-RED process's peak RSS (VmHWM,
 * reset before each attack through /proc/<pid>/clear_refs).
 */

const MiB = 1024 * 1024;
const ATTACK_BYTES = 256 * MiB;
const MAX_BYTES = MiB;
/** What an attack may add to Node-RED's peak RSS while 256 MiB (or many times that) are sent. */
const RSS_BUDGET = 64 * MiB;
const BODY_TIMEOUT_S = 2;

const USER = "hooks";
const PASSWORD = "adversarial-hooks-password";
/** bcrypt (cost 8) of PASSWORD, as settings.js httpNodeAuth.pass takes it. */
const PASSWORD_HASH = "$2b$08$y5DaLFY.2d4KV4lbajD1GuHOj.TYkO7lcB1p2dgP3eeoP2Bt9i.N2";
const AUTH = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString("base64")}`;

const TAB = "adversarial-webhook";

function flow(): FlowNode[] {
  const at = (x: number, y: number) => ({ z: TAB, x, y });
  return [
    { id: TAB, type: "tab", label: "adversarial webhook" },
    {
      id: "hooks",
      type: "webhook-in",
      ...at(120, 60),
      url: "/adv/hooks",
      method: "post",
      maxBytes: String(MAX_BYTES),
      timeout: String(BODY_TIMEOUT_S),
      maxConcurrent: "32",
      wires: [["count"]],
    },
    {
      id: "count",
      type: "function",
      ...at(320, 60),
      func: 'global.set("reached", (global.get("reached") || 0) + 1);\nreturn msg;',
      outputs: 1,
      wires: [["accepted"]],
    },
    { id: "accepted", type: "http response", ...at(520, 60), statusCode: "202", headers: {}, wires: [] },
    {
      id: "reached-in",
      type: "http in",
      ...at(120, 120),
      url: "/adv/reached",
      method: "get",
      wires: [["reached-read"]],
    },
    {
      id: "reached-read",
      type: "function",
      ...at(320, 120),
      func: 'msg.payload = { reached: global.get("reached") || 0 };\nreturn msg;',
      outputs: 1,
      wires: [["reached-out"]],
    },
    { id: "reached-out", type: "http response", ...at(520, 120), statusCode: "", headers: {}, wires: [] },
    // The contrast: core http in with raw body on, in front of webhook-verify.
    {
      id: "core-in",
      type: "http in",
      ...at(120, 180),
      url: "/adv/core",
      method: "post",
      upload: false,
      skipBodyParsing: true,
      swaggerDoc: "",
      wires: [["core-verify"]],
    },
    {
      id: "core-verify",
      type: "webhook-verify",
      ...at(320, 180),
      scheme: "pms-hmac",
      tolerance: "300",
      maxBytes: String(MAX_BYTES),
      maxIds: "0",
      respond: true,
      integration: "adversarial",
      store: "",
      wires: [["count"], []],
    },
  ];
}

interface Outcome {
  status: number;
  /** The server closed the connection (its FIN, or a reset), before this client did. */
  closed: boolean;
  /** Body bytes this client handed to its socket. */
  written: number;
}

interface Attack {
  path: string;
  auth?: boolean;
  /** Declared in Content-Length; chunked when absent. */
  contentLength?: number;
  /** Body bytes to try to send. */
  bytes: number;
  /** Bytes per write, and the pause after each (a slow sender). */
  block?: number;
  pauseMs?: number;
}

const BLOCK = Buffer.alloc(MiB, 0x7a);

/**
 * Sends one request over a raw connection, writing the body as fast as the socket takes it (or
 * trickled) until it is all sent or the server closes. Resolves once the server has closed, or
 * has answered and the whole body is sent (a server that keeps the connection open).
 */
async function attack(port: number, a: Attack): Promise<Outcome> {
  const socket: Socket = connect({ host: "127.0.0.1", port });
  await once(socket, "connect");
  let closed = false;
  let response = "";
  socket.on("error", () => undefined);
  const gone = new Promise<void>((resolve) => {
    const close = (): void => {
      closed = true;
      resolve();
    };
    socket.on("end", close);
    socket.on("close", close);
  });
  const answered = new Promise<void>((resolve) =>
    socket.on("data", (c: Buffer) => {
      response += c.toString("latin1");
      if (response.includes("\r\n\r\n")) resolve();
    }),
  );
  const headers = [
    `POST ${a.path} HTTP/1.1`,
    "Host: 127.0.0.1",
    "Content-Type: application/json",
    a.contentLength === undefined ? "Transfer-Encoding: chunked" : `Content-Length: ${a.contentLength}`,
    ...(a.auth ? [`Authorization: ${AUTH}`] : []),
  ];
  socket.write(`${headers.join("\r\n")}\r\n\r\n`);

  const block = a.block ?? BLOCK.length;
  let written = 0;
  while (written < a.bytes && !closed) {
    const n = Math.min(block, a.bytes - written);
    const data = BLOCK.subarray(0, n);
    const frame =
      a.contentLength === undefined
        ? [Buffer.from(`${n.toString(16)}\r\n`), data, Buffer.from("\r\n")]
        : [data];
    let flushed = true;
    for (const part of frame) flushed = socket.write(part) && flushed;
    written += n;
    if (!flushed && !closed) {
      await new Promise<void>((resume) => {
        const go = (): void => {
          socket.off("drain", go);
          socket.off("end", go);
          socket.off("close", go);
          resume();
        };
        socket.on("drain", go);
        socket.on("end", go);
        socket.on("close", go);
      });
    }
    if (a.pauseMs) await new Promise((r) => setTimeout(r, a.pauseMs));
  }
  if (!closed && a.contentLength === undefined) socket.write("0\r\n\r\n");
  await Promise.race([gone, answered]);
  const wasClosed = closed;
  socket.destroy();
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1] ?? 0);
  return { status, closed: wasClosed, written };
}

/** Peak RSS of `pid` while `run` runs, and its growth: VmHWM is reset to the current RSS first. */
async function peakGrowth<T>(
  pid: number,
  run: () => Promise<T>,
): Promise<{ result: T; growth: number; peak: number }> {
  const read = (field: "VmHWM" | "VmRSS"): number => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    if (!m) throw new Error(`no ${field} in /proc/${pid}/status`);
    return Number(m[1]) * 1024;
  };
  writeFileSync(`/proc/${pid}/clear_refs`, "5");
  const before = read("VmRSS");
  const result = await run();
  const peak = read("VmHWM");
  return { result, growth: peak - before, peak };
}

const mib = (bytes: number): string => `${(bytes / MiB).toFixed(1)} MiB`;

describe("adversarial: webhook-in under oversized, slow and unauthenticated bodies (real Node-RED)", function () {
  this.timeout(60000);
  let rt: Runtime;
  let pid: number;
  const figures: string[] = [];

  async function authed(path: string, init: RequestInit = {}): Promise<Response> {
    return fetch(`${rt.url}${path}`, {
      ...init,
      headers: { authorization: AUTH, ...(init.headers as Record<string, string>) },
    });
  }

  async function reached(): Promise<number> {
    const res = await authed("/adv/reached");
    expect(res.status).to.equal(200);
    return ((await res.json()) as { reached: number }).reached;
  }

  before(async function () {
    rt = await startRuntime({
      flows: flow(),
      credentials: { "core-verify": { secrets: "adversarial-secret" } },
      settings: { httpNodeAuth: { user: USER, pass: PASSWORD_HASH } },
    });
    pid = rt.process.child.pid as number;
    const rss = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    figures.push(`Node-RED RSS before the attacks: ${mib(Number(rss?.[1]) * 1024)}`);
    const probe = await authed("/adv/hooks", { method: "POST", body: '{"probe":1}' });
    expect(probe.status).to.equal(202);
    expect(await reached()).to.equal(1);
  });

  after(async function () {
    if (figures.length)
      console.log(
        `      Node-RED RSS, and its peak growth in each attack:\n${figures.map((f) => `        ${f}`).join("\n")}`,
      );
    await rt?.stop();
  });

  // httpNodeAuth answers 401 before webhook-in runs, and Node then discards the body as it
  // arrives (the connection stays open until the sender stops). This first attack's figure
  // includes the allocator growing once for a fast stream (about 32 MiB on the development
  // machine; a second such attack adds under 1 MiB).
  it("answers 401 to 256 MiB without credentials, with or without Content-Length, and holds none of it", async function () {
    const { result, growth } = await peakGrowth(pid, () =>
      Promise.all([
        attack(rt.port, { path: "/adv/hooks", contentLength: ATTACK_BYTES, bytes: ATTACK_BYTES }),
        attack(rt.port, { path: "/adv/hooks", bytes: ATTACK_BYTES }),
      ]),
    );
    figures.push(`webhook-in, 2 x 256 MiB without credentials (401): ${mib(growth)}`);
    expect(result.map((r) => r.status)).to.deep.equal([401, 401]);
    expect(growth).to.be.below(RSS_BUDGET);
    expect(await reached()).to.equal(1);
  });

  it("answers 413 to 256 MiB with credentials, at once from Content-Length and early when chunked, and closes", async function () {
    const { result, growth } = await peakGrowth(pid, () =>
      Promise.all([
        attack(rt.port, { path: "/adv/hooks", auth: true, contentLength: ATTACK_BYTES, bytes: ATTACK_BYTES }),
        attack(rt.port, { path: "/adv/hooks", auth: true, bytes: ATTACK_BYTES }),
      ]),
    );
    figures.push(`webhook-in, 2 x 256 MiB with credentials (413): ${mib(growth)}`);
    for (const r of result) {
      expect(r.status).to.equal(413);
      expect(r.closed).to.equal(true);
      // Loopback socket buffers take some MiB before the close is seen; never the whole body.
      expect(r.written).to.be.below(ATTACK_BYTES / 4);
    }
    expect(growth).to.be.below(RSS_BUDGET);
    expect(await reached()).to.equal(1);
  });

  it("answers 413 to 32 oversized uploads at once (half chunked), within the same memory budget", async function () {
    const { result, growth } = await peakGrowth(pid, () =>
      Promise.all(
        Array.from({ length: 32 }, (_, i) =>
          attack(rt.port, {
            path: "/adv/hooks",
            auth: true,
            contentLength: i % 2 === 0 ? ATTACK_BYTES : undefined,
            bytes: ATTACK_BYTES,
          }),
        ),
      ),
    );
    figures.push(`webhook-in, 32 x 256 MiB at once with credentials (413): ${mib(growth)}`);
    expect(result.map((r) => r.status)).to.deep.equal(new Array(32).fill(413));
    expect(result.every((r) => r.closed)).to.equal(true);
    // Each sender gets as far as the loopback buffers take it, never near the whole body: a body
    // Node dumps (reads and discards) after the answer runs to hundreds of MiB in the linger second.
    const far = result
      .map((r, i) => ({ i, chunked: i % 2 === 1, mib: Math.round(r.written / 2 ** 20) }))
      .filter((r) => r.mib >= ATTACK_BYTES / 8 / 2 ** 20);
    expect(far, "senders that got 32 MiB or more onto the wire").to.deep.equal([]);
    expect(growth).to.be.below(RSS_BUDGET);
    expect(await reached()).to.equal(1);
  });

  it("answers 408 to bodies trickled a few bytes a second, with and without Content-Length, and closes", async function () {
    const started = Date.now();
    const slow = (contentLength?: number) =>
      attack(rt.port, { path: "/adv/hooks", auth: true, contentLength, bytes: 1000, block: 4, pauseMs: 250 });
    const result = await Promise.all([slow(1000), slow(undefined)]);
    const took = Date.now() - started;
    for (const r of result) {
      expect(r.status).to.equal(408);
      expect(r.closed).to.equal(true);
      expect(r.written).to.be.below(100);
    }
    expect(took).to.be.within(BODY_TIMEOUT_S * 1000 - 100, BODY_TIMEOUT_S * 1000 + 3000);
    expect(await reached()).to.equal(1);
  });

  it("still answers a good delivery after the attacks", async function () {
    const res = await authed("/adv/hooks", { method: "POST", body: '{"after":true}' });
    expect(res.status).to.equal(202);
    expect(await reached()).to.equal(2);
  });

  // The contrast, recorded and not asserted: core http in with raw body on reads the whole body
  // before httpNodeAuth (401) or webhook-verify (413) runs. Unauthenticated first, from the heap
  // the attacks above left; the authenticated one then starts from the memory that one kept.
  // Figures on the development machine: see docs/legacy-webhooks.md.
  it("contrast: core http in answers 256 MiB 401 without credentials and 413 (webhook-verify) with, after reading it all", async function () {
    const unauthenticated = await peakGrowth(pid, () =>
      attack(rt.port, { path: "/adv/core", contentLength: ATTACK_BYTES, bytes: ATTACK_BYTES }),
    );
    figures.push(
      `core http in, 256 MiB without credentials (401): ${mib(unauthenticated.growth)} (peak ${mib(unauthenticated.peak)})`,
    );
    expect(unauthenticated.result.status).to.equal(401);
    const authenticated = await peakGrowth(pid, () =>
      attack(rt.port, { path: "/adv/core", auth: true, contentLength: ATTACK_BYTES, bytes: ATTACK_BYTES }),
    );
    figures.push(
      `core http in -> webhook-verify, 256 MiB with credentials (413): ${mib(authenticated.growth)} (peak ${mib(authenticated.peak)})`,
    );
    expect(authenticated.result.status).to.equal(413);
    expect(await reached()).to.equal(2);
  });
});
