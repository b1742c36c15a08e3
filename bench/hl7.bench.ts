import { readdirSync, readFileSync } from "node:fs";
import net from "node:net";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import {
  encodeFrame,
  hl7Facts,
  isBatch,
  MllpDecoder,
  NO_HL7_LIMITS,
  parseHeader,
  parseHl7,
  readAck,
} from "../lib/hl7";
import { hl7v2 } from "../lib/hl7/hl7v2";
import { mllpPort } from "../test/support/mllp-port";
import { startRuntime, type FlowNode } from "../test/support/red-runtime";

/**
 * HL7 transport figures (issue 5, benchmark 6):
 *
 * (a) what hl7-parse does per message (lib/hl7 parse + the msg.payload structure + msg.hl7)
 *     against a bare `hl7v2` `HL7Message.parse` of the same texts, for a ~650 B ADT^A01 and a
 *     5 KB ADT^A01; the ratio is ours / hl7v2 in messages per second (target >= 0.8). Every
 *     timed call gets a different text (MSH-10 varies) so lib/hl7's parse cache never answers.
 * (b) the parse limits (issue 13): messages/s of every sample message under test/fixtures with
 *     the default limits against no limits (NO_HL7_LIMITS: no delimiter scan at all), for what
 *     mllp-in ack auto does (parse) and what hl7-parse does (parse + structure + msg.hl7); the
 *     ratio is on / off (target >= 0.95). Then the cost of 10 MiB adversarial frames without and
 *     with the limits: milliseconds (the event loop is blocked all along) and the heap they hold.
 * (c) end to end in a real Node-RED runtime (child process), 8 MLLP sender connections on
 *     loopback, each sending its next message when the ACK of the last has come: messages/s
 *     and p50/p99 ACK latency, then p99 at a paced 500 msg/s; for mllp-in (ack flow) ->
 *     hl7-fhir -> mllp-out reply (the issue's pipeline), with two baselines in the same
 *     runtime: mllp-in ack auto, and mllp-in (ack flow) -> mllp-out reply.
 */

const FIXTURES = join(__dirname, "..", "..", "test", "fixtures", "hl7");
const VARIANTS = 512;

function variants(text: string): string[] {
  return Array.from({ length: VARIANTS }, (_, i) =>
    text.replace("|MSG00001|", `|MSG${String(i).padStart(5, "0")}|`),
  );
}

function opsPerSecond(fn: (i: number) => void, ms: number): number {
  let n = 0;
  const end = performance.now() + ms;
  while (performance.now() < end) {
    for (let k = 0; k < 50; k++) fn(n++);
  }
  return (n * 1000) / ms;
}

/** Best of rounds, interleaved so that load changes hit both sides alike. */
function compare(a: (i: number) => void, b: (i: number) => void, rounds = 5, ms = 500): [number, number] {
  let bestA = 0;
  let bestB = 0;
  for (let r = 0; r < rounds; r++) {
    bestA = Math.max(bestA, opsPerSecond(a, ms));
    bestB = Math.max(bestB, opsPerSecond(b, ms));
  }
  return [bestA, bestB];
}

const fmt = (n: number): string => Math.round(n).toLocaleString("en-US");

function parseBench(): void {
  const { HL7Message } = hl7v2();
  console.log("(a) hl7-parse vs bare hl7v2 parse, messages/s (best of 5 x 0.5 s, one core)");
  for (const name of ["adt-a01-v2.5.1.hl7", "adt-a01-5kb-v2.5.1.hl7"]) {
    const texts = variants(readFileSync(join(FIXTURES, name), "utf8"));
    const size = Buffer.byteLength(texts[0]);
    const node = (i: number): void => {
      const p = parseHl7(texts[i % VARIANTS]);
      p.toJSON();
      hl7Facts(p.header);
    };
    const bare = (i: number): void => {
      HL7Message.parse(texts[i % VARIANTS]);
    };
    // warm both up
    opsPerSecond(node, 300);
    opsPerSecond(bare, 300);
    const [ours, theirs] = compare(node, bare);
    const [validated] = compare(
      (i) => parseHl7(texts[(i + 7) % VARIANTS], { validate: true }).toJSON(),
      () => undefined,
      2,
      400,
    );
    const header = opsPerSecond((i) => parseHeader(texts[i % VARIANTS]), 400);
    console.log(
      `  ${name} (${size} B): hl7-parse ${fmt(ours)}/s (${((1000 / ours) * 1000).toFixed(1)} us), ` +
        `hl7v2 ${fmt(theirs)}/s (${((1000 / theirs) * 1000).toFixed(1)} us), ratio ${(ours / theirs).toFixed(2)}`,
    );
    console.log(
      `    with validate (adds hl7v2's strict parse): ${fmt(validated)}/s; header only (parseHeader): ${fmt(header)}/s`,
    );
  }
}

// ---- (b) limits -------------------------------------------------------------------------------

const ROOT_FIXTURES = join(FIXTURES, "..");

/** Every single-message sample under test/fixtures, with VARIANTS control IDs each. */
function sampleVariants(): Array<{ name: string; texts: string[] }> {
  const out: Array<{ name: string; texts: string[] }> = [];
  for (const dir of readdirSync(ROOT_FIXTURES)) {
    for (const f of readdirSync(join(ROOT_FIXTURES, dir)).filter((n) => n.endsWith(".hl7"))) {
      const text = readFileSync(join(ROOT_FIXTURES, dir, f), "utf8");
      if (isBatch(text)) continue;
      const id = parseHeader(text).controlId;
      out.push({
        name: `${dir}/${f}`,
        texts: Array.from({ length: VARIANTS }, (_, i) => text.replace(id, `${id.slice(0, 6)}${i}`)),
      });
    }
  }
  return out;
}

const MIB = 1024 * 1024;

function adversarial(): Array<[string, string]> {
  const size = 10 * MIB;
  const head =
    "MSH|^~\\&|ADV|LAB|EHR|HB|20240301091500||ADT^A01^ADT_A01|ADV-1|P|2.5.1\rPID|1||ADV-1^^^LAB^MR\r";
  const fill = (prefix: string, unit: string): string =>
    Buffer.from(prefix + unit.repeat(Math.ceil(size / unit.length)).slice(0, size - prefix.length)).toString(
      "latin1",
    );
  return [
    ["MSH of empty fields |||", fill("MSH|^~\\&", "|")],
    ["segments of 999 empty fields", fill(head, `ZZZ${"|".repeat(999)}\r`)],
    ["repetitions ~~~", fill(`${head}NTE|1||`, "~")],
    ["components ^^^", fill(`${head}NTE|1||`, "^")],
    ["subcomponents &&&", fill(`${head}NTE|1||`, "&")],
    ["escapes \\E\\", fill(`${head}NTE|1||`, "\\E\\")],
    ["one enormous segment", `${fill(`${head}OBX|1|ED|PDF^Report||^AP^PDF^Base64^`, "QUJD")}\r`],
    ["many tiny segments ZZZ", fill(head, "ZZZ\r")],
  ];
}

setFlagsFromString("--expose-gc");
const collect = runInNewContext("gc") as () => void;
/** What a measured parse made, held until its heap is measured. */
const kept: unknown[] = [];

/** Parse + structure of `text`: milliseconds, heap held by the result, and the outcome. */
function attackCost(
  text: string,
  limits?: typeof NO_HL7_LIMITS,
): { ms: number; heap: number; outcome: string } {
  collect();
  const heap0 = process.memoryUsage().heapUsed;
  const t0 = performance.now();
  let outcome = "parsed";
  try {
    kept.push(parseHl7(text, { limits }).toJSON());
  } catch (err) {
    outcome = (err as { code?: string }).code ?? "error";
  }
  const ms = performance.now() - t0;
  collect();
  const heap = process.memoryUsage().heapUsed - heap0;
  kept.length = 0;
  return { ms, heap, outcome };
}

/**
 * Messages/s of `a` and `b` timed in alternating batches of 20 calls for `ms` in all: on a
 * machine whose load changes, both sides see the same load. Best of `rounds`.
 */
function alternate(a: (i: number) => void, b: (i: number) => void, rounds = 5, ms = 1000): [number, number] {
  let bestA = 0;
  let bestB = 0;
  let n = 0;
  for (let r = 0; r < rounds; r++) {
    let timeA = 0;
    let timeB = 0;
    let calls = 0;
    const end = performance.now() + ms;
    while (performance.now() < end) {
      const t0 = performance.now();
      for (let k = 0; k < 20; k++) a(n + k);
      const t1 = performance.now();
      for (let k = 0; k < 20; k++) b(n + k);
      timeB += performance.now() - t1;
      timeA += t1 - t0;
      n += 20;
      calls += 20;
    }
    bestA = Math.max(bestA, (calls * 1000) / timeA);
    bestB = Math.max(bestB, (calls * 1000) / timeB);
  }
  return [bestA, bestB];
}

function limitsBench(): void {
  console.log(
    "(b) parse limits on (defaults) vs off, messages/s of every sample under test/fixtures (alternating batches of 20, best of 5 x 1 s)",
  );
  const samples = sampleVariants();
  let sumOn = 0;
  let sumOff = 0;
  let sumOnJson = 0;
  let sumOffJson = 0;
  for (const { name, texts } of samples) {
    const on = (i: number): void => {
      parseHl7(texts[i % VARIANTS]);
    };
    const off = (i: number): void => {
      parseHl7(texts[i % VARIANTS], { limits: NO_HL7_LIMITS });
    };
    const onJson = (i: number): void => {
      const p = parseHl7(texts[i % VARIANTS]);
      p.toJSON();
      hl7Facts(p.header);
    };
    const offJson = (i: number): void => {
      const p = parseHl7(texts[i % VARIANTS], { limits: NO_HL7_LIMITS });
      p.toJSON();
      hl7Facts(p.header);
    };
    for (const f of [on, off, onJson, offJson]) opsPerSecond(f, 200);
    const [a, b] = alternate(on, off);
    const [c, d] = alternate(onJson, offJson);
    sumOn += 1 / a;
    sumOff += 1 / b;
    sumOnJson += 1 / c;
    sumOffJson += 1 / d;
    console.log(
      `  ${name} (${Buffer.byteLength(texts[0])} B): parse ${fmt(a)}/s on, ${fmt(b)}/s off, ratio ${(a / b).toFixed(3)}; ` +
        `parse + structure ${fmt(c)}/s on, ${fmt(d)}/s off, ratio ${(c / d).toFixed(3)}`,
    );
  }
  console.log(
    `  all samples, one of each in turn: parse ratio ${(sumOff / sumOn).toFixed(3)}, ` +
      `parse + structure ratio ${(sumOffJson / sumOnJson).toFixed(3)} (on / off, target >= 0.95)`,
  );
  console.log("  10 MiB adversarial frames, parse + structure: off (no limits) -> on (default limits)");
  for (const [name, text] of adversarial()) {
    const off = attackCost(text, NO_HL7_LIMITS);
    const on = attackCost(text);
    console.log(
      `    ${name}: off ${fmt(off.ms)} ms, heap ${fmt(off.heap / MIB)} MiB (${off.outcome}) -> ` +
        `on ${on.ms.toFixed(1)} ms, heap ${(on.heap / MIB).toFixed(1)} MiB (${on.outcome})`,
    );
  }
}

// ---- (c) end to end ---------------------------------------------------------------------------

interface Sender {
  send(text: string): Promise<number>;
  close(): void;
}

async function sender(port: number): Promise<Sender> {
  const socket = await new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect({ host: "127.0.0.1", port }, () => resolve(s));
    s.once("error", reject);
  });
  socket.setNoDelay(true);
  let pending:
    { id: string; t0: number; resolve: (ms: number) => void; reject: (e: Error) => void } | undefined;
  const decoder = new MllpDecoder({
    frame: (b) => {
      const ack = readAck(b.toString("utf8"));
      if (!pending || ack.controlId !== pending.id) return;
      const p = pending;
      pending = undefined;
      if (ack.code !== "AA") p.reject(new Error(`ACK ${ack.code}: ${ack.text}`));
      else p.resolve(performance.now() - p.t0);
    },
  });
  socket.on("data", (d: Buffer) => decoder.push(d));
  return {
    send(text: string): Promise<number> {
      return new Promise((resolve, reject) => {
        pending = { id: parseHeader(text).controlId, t0: performance.now(), resolve, reject };
        socket.write(encodeFrame(text));
      });
    },
    close: () => socket.destroy(),
  };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

let serial = 0;
function message(template: string): string {
  serial++;
  return template
    .replace("|MSG00001|", `|B${String(serial).padStart(9, "0")}|`)
    .replace("100234^^^GHH-MRN", `${100000 + (serial % 5000)}^^^GHH-MRN`);
}

/** 8 connections, each sending its next message on the last one's ACK, for `ms`. */
export async function closedLoop(
  port: number,
  template: string,
  ms: number,
): Promise<{ rate: number; lat: number[] }> {
  const senders = await Promise.all(Array.from({ length: 8 }, () => sender(port)));
  const lat: number[] = [];
  const start = performance.now();
  const end = start + ms;
  await Promise.all(
    senders.map(async (s) => {
      while (performance.now() < end) lat.push(await s.send(message(template)));
    }),
  );
  const elapsed = performance.now() - start;
  for (const s of senders) s.close();
  return { rate: (lat.length * 1000) / elapsed, lat: lat.sort((a, b) => a - b) };
}

/** 8 connections sharing a total of `rate` messages/s, for `ms`. */
async function paced(port: number, template: string, rate: number, ms: number): Promise<number[]> {
  const senders = await Promise.all(Array.from({ length: 8 }, () => sender(port)));
  const lat: number[] = [];
  const interval = (8 * 1000) / rate;
  const start = performance.now();
  await Promise.all(
    senders.map(async (s, k) => {
      let next = start + (k * interval) / 8;
      while (next < start + ms) {
        const wait = next - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        lat.push(await s.send(message(template)));
        next += interval;
      }
    }),
  );
  for (const s of senders) s.close();
  return lat.sort((a, b) => a - b);
}

function flows(): FlowNode[] {
  const TAB = "bench-hl7";
  const at = (x: number, y: number): { z: string; x: number; y: number } => ({ z: TAB, x, y });
  // Port 0: each listener binds a free port and logs it (read by mllpPort).
  const inNode = (id: string, ack: string, wires: string[][]): FlowNode => ({
    id,
    type: "mllp-in",
    ...at(100, 60),
    host: "127.0.0.1",
    port: "0",
    ack,
    maxBytes: "1048576",
    dedupe: "0",
    idleTimeout: "0",
    maxConnections: "0",
    replyTimeout: "30",
    integration: "hl7",
    wires,
  });
  return [
    { id: TAB, type: "tab", label: "hl7 bench" },
    inNode("auto", "auto", [[]]),
    inNode("reply", "flow", [["replyAa"]]),
    { id: "replyAa", type: "mllp-out", ...at(300, 120), mode: "reply", ackCode: "AA", wires: [[]] },
    inNode("fhir", "flow", [["toFhir"]]),
    {
      id: "toFhir",
      type: "hl7-fhir",
      ...at(300, 180),
      direction: "to-fhir",
      systems: JSON.stringify({ "GHH-MRN": "urn:oid:2.16.840.1.113883.19.1000" }),
      systemPattern: "",
      timezone: "Europe/Berlin",
      version: "2.5.1",
      wires: [["fhirAa"]],
    },
    { id: "fhirAa", type: "mllp-out", ...at(500, 180), mode: "reply", ackCode: "AA", wires: [[]] },
  ];
}

async function endToEnd(): Promise<void> {
  const template = readFileSync(join(FIXTURES, "adt-a01-v2.5.1.hl7"), "utf8");
  const runtime = await startRuntime({ flows: flows() });
  try {
    const ports = {
      auto: await mllpPort(runtime, "auto"),
      reply: await mllpPort(runtime, "reply"),
      fhir: await mllpPort(runtime, "fhir"),
    };
    console.log(
      "(c) end to end in Node-RED 4.1 (child process), 8 connections on loopback, ~650 B ADT^A01, 6 s per figure",
    );
    const cases: Array<[string, number]> = [
      ["mllp-in ack auto (baseline)", ports.auto],
      ["mllp-in flow -> mllp-out reply (baseline)", ports.reply],
      ["mllp-in flow -> hl7-fhir -> mllp-out reply", ports.fhir],
    ];
    const rates: number[] = [];
    for (const [label, port] of cases) {
      await closedLoop(port, template, 1500); // warm-up
      const { rate, lat } = await closedLoop(port, template, 6000);
      const pacedLat = await paced(port, template, 500, 6000);
      rates.push(rate);
      console.log(
        `  ${label}: ${fmt(rate)} msg/s, ACK p50 ${percentile(lat, 50).toFixed(2)} ms, p99 ${percentile(lat, 99).toFixed(2)} ms;` +
          ` at 500 msg/s: p50 ${percentile(pacedLat, 50).toFixed(2)} ms, p99 ${percentile(pacedLat, 99).toFixed(2)} ms` +
          ` (${pacedLat.length} messages)`,
      );
    }
    console.log(
      `  pipeline / auto baseline: ${(rates[2] / rates[0]).toFixed(2)}, pipeline / flow-reply baseline: ${(rates[2] / rates[1]).toFixed(2)}`,
    );
  } finally {
    await runtime.stop();
  }
}

export async function run(): Promise<void> {
  console.log(`machine: ${cpus().length} cores, load average ${loadavg()[0].toFixed(2)}`);
  parseBench();
  limitsBench();
  await endToEnd();
}
