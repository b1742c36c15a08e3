/* eslint-disable @typescript-eslint/no-explicit-any -- flows and messages are dynamic JSON */
import { spawn, type ChildProcess } from "node:child_process";
import { get as httpGet } from "node:http";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import helper from "node-red-node-test-helper";
import fhirServerNode from "../nodes/fhir-server/fhir-server";
import fhirRequestNode from "../nodes/fhir-request/fhir-request";
import type { FhirServerNode } from "../nodes/fhir-server/types";

/**
 * fhir-request through a real Node-RED flow (the test helper's in-process runtime: inject by
 * node.receive, collect at a helper node) against plain fetch to the same sandbox FHIR server,
 * reads and upserts, at concurrency 1 and 16. The sandbox runs in a child process so that its
 * CPU does not count against either side. Prints req/s, the ratio node/fetch (target >= 0.85)
 * and the TCP connections each side opened (target for the node: <= maxConcurrent).
 */

const MAX_CONCURRENT = 8;
const SEEDED = 500;
const SYSTEM = "http://bench.example.org/mrn";
const ROUNDS = 3;
const REQUESTS: Record<Op, Record<number, number>> = {
  read: { 1: 1200, 16: 4000 },
  upsert: { 1: 400, 16: 1200 },
};

interface Sandbox {
  child: ChildProcess;
  url: string;
  origin: string;
}

function startSandbox(): Promise<Sandbox> {
  const main = join(__dirname, "..", "sandbox", "fhir", "main.js");
  const child = spawn(process.execPath, [main], {
    env: { ...process.env, FHIR_PORT: "0", FHIR_HOST: "127.0.0.1" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    let out = "";
    child.on("exit", (code) => reject(new Error(`the sandbox exited (${code}) before it listened`)));
    child.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const m = /FHIR R4 sandbox: (\S+)/.exec(out);
      if (m) {
        child.removeAllListeners("exit");
        child.stdout!.removeAllListeners("data");
        child.stdout!.resume();
        resolve({ child, url: m[1], origin: new URL(m[1]).origin });
      }
    });
  });
}

/**
 * TCP connections the sandbox has accepted, this request's own included: it goes on a connection
 * of its own (no keep-alive), so a difference of two readings counts exactly one of them.
 */
function sandboxConnections(sb: Sandbox): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpGet(`${sb.origin}/$sandbox/stats`, { agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve((JSON.parse(body) as { connections: number }).connections));
    });
    req.on("error", reject);
  });
}

/** Connections opened by whatever ran between two readings. */
function openedBetween(before: number, after: number): number {
  return after - before - 1;
}

function patient(i: number, round: number): Record<string, unknown> {
  return {
    resourceType: "Patient",
    identifier: [{ system: SYSTEM, value: `B-${i}` }],
    name: [{ family: `Bench${i}`, given: ["Mark", `R${round}`] }],
    gender: i % 2 ? "male" : "female",
    birthDate: "1970-01-01",
    address: [{ line: ["1 Main St"], city: "Springfield", postalCode: "12345", country: "US" }],
  };
}

async function seed(sb: Sandbox): Promise<string[]> {
  const entry = Array.from({ length: SEEDED }, (_, i) => ({
    resource: patient(i, 0),
    request: { method: "POST", url: "Patient" },
  }));
  const res = await fetch(sb.url, {
    method: "POST",
    headers: { "content-type": "application/fhir+json", accept: "application/fhir+json" },
    body: JSON.stringify({ resourceType: "Bundle", type: "batch", entry }),
  });
  const bundle = (await res.json()) as { entry: Array<{ response: { location: string } }> };
  return bundle.entry.map((e) => /Patient\/([^/]+)/.exec(e.response.location)![1]);
}

type Op = "read" | "upsert";

interface Side {
  /** Performs `total` requests with `concurrency` in flight; resolves when all are answered. */
  run(total: number, concurrency: number, round: number): Promise<void>;
  close(): Promise<void>;
}

/** Plain fetch (undici's global dispatcher), the same requests and headers as the node sends. */
function fetchSide(sb: Sandbox, op: Op, ids: string[]): Side {
  const one = async (i: number, round: number): Promise<void> => {
    const res =
      op === "read"
        ? await fetch(`${sb.url}/Patient/${ids[i % ids.length]}`, {
            headers: { accept: "application/fhir+json" },
          })
        : await fetch(`${sb.url}/Patient?identifier=${encodeURIComponent(`${SYSTEM}|B-${i % SEEDED}`)}`, {
            method: "PUT",
            headers: {
              accept: "application/fhir+json",
              "content-type": "application/fhir+json",
              prefer: "return=representation",
            },
            body: JSON.stringify(patient(i % SEEDED, round)),
          });
    if (res.status >= 300) throw new Error(`fetch ${op}: HTTP ${res.status}`);
    await res.json();
  };
  return {
    async run(total, concurrency, round) {
      let next = 0;
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          for (let i = next++; i < total; i = next++) await one(i, round);
        }),
      );
    },
    close: async () => undefined,
  };
}

/** A Node-RED flow: fhir-server + fhir-request -> helper; N messages kept in flight. */
async function nodeSide(sb: Sandbox, op: Op, ids: string[]): Promise<Side & { connectionsOpened(): number }> {
  const tab = "bench-tab";
  await helper.load([fhirServerNode, fhirRequestNode], [
    { id: tab, type: "tab" },
    {
      id: "srv",
      type: "fhir-server",
      baseUrl: sb.url,
      authType: "none",
      maxConcurrent: String(MAX_CONCURRENT),
    },
    {
      id: "req",
      type: "fhir-request",
      z: tab,
      x: 0,
      y: 0,
      server: "srv",
      operation: op,
      resourceType: "Patient",
      integration: "bench",
      wires: [["out"]],
    },
    { id: "out", type: "helper", z: tab, x: 0, y: 0 },
    { id: "catch", type: "catch", z: tab, x: 0, y: 0, scope: null, uncaught: false, wires: [["caught"]] },
    { id: "caught", type: "helper", z: tab, x: 0, y: 0 },
  ] as any);
  // The helper wraps Node.prototype.send/status/log in sinon spies that keep every call; a real
  // runtime has none of that, so they come off for the measurement.
  (helper as unknown as { _sandbox: { restore(): void } })._sandbox.restore();
  const req = helper.getNode("req");
  let onOutput: (() => void) | undefined;
  let failure: Error | undefined;
  helper.getNode("out").on("input", () => onOutput?.());
  helper.getNode("caught").on("input", (m: any) => {
    failure ??= new Error(`node ${op}: ${m.error?.code} ${m.error?.message}`);
    onOutput?.();
  });
  const msgFor = (i: number, round: number): Record<string, unknown> =>
    op === "read" ? { id: ids[i % ids.length] } : { payload: patient(i % SEEDED, round) };
  return {
    run(total, concurrency, round) {
      return new Promise((resolve, reject) => {
        let sent = 0;
        let done = 0;
        onOutput = () => {
          done++;
          if (failure) {
            onOutput = undefined;
            reject(failure);
          } else if (done === total) {
            onOutput = undefined;
            resolve();
          } else if (sent < total) req.receive(msgFor(sent++, round));
        };
        while (sent < Math.min(concurrency, total)) req.receive(msgFor(sent++, round));
      });
    },
    connectionsOpened: () =>
      (helper.getNode("srv") as unknown as FhirServerNode).client!.stats().connectionsOpened,
    close: () => helper.unload(),
  };
}

interface Measure {
  rate: number;
  cpuUsPerReq: number;
}

async function measure(side: Side, total: number, concurrency: number, round: number): Promise<Measure> {
  const cpu = process.cpuUsage();
  const start = performance.now();
  await side.run(total, concurrency, round);
  const seconds = (performance.now() - start) / 1000;
  const used = process.cpuUsage(cpu);
  return { rate: total / seconds, cpuUsPerReq: (used.user + used.system) / total };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

export async function run(): Promise<void> {
  helper.init(require.resolve("node-red"));
  const sb = await startSandbox();
  try {
    const ids = await seed(sb);
    console.log(
      `sandbox FHIR server in a child process, ${SEEDED} Patients; fhir-server maxConcurrent ${MAX_CONCURRENT}; ` +
        `${ROUNDS} interleaved rounds, medians`,
    );
    console.log(
      `${"scenario".padEnd(16)}${"fetch req/s".padStart(12)}${"node req/s".padStart(12)}${"ratio".padStart(8)}` +
        `${"fetch conns".padStart(13)}${"node conns".padStart(12)}${"fetch cpu/req".padStart(15)}${"node cpu/req".padStart(14)}`,
    );
    let round = 0;
    for (const op of ["read", "upsert"] as Op[]) {
      for (const concurrency of [1, 16]) {
        const total = REQUESTS[op][concurrency]!;
        const plain = fetchSide(sb, op, ids);
        const fetchRuns: Measure[] = [];
        const nodeRuns: Measure[] = [];
        let fetchConns = 0;
        let nodeConns = 0;
        let nodeAccepted = 0;
        // Only one side talks to the sandbox at a time, so the connections it accepted in a
        // window are that side's.
        let mark = await sandboxConnections(sb);
        await plain.run(300, concurrency, ++round);
        fetchConns += openedBetween(mark, await sandboxConnections(sb));
        for (let r = 0; r < ROUNDS; r++) {
          mark = await sandboxConnections(sb);
          fetchRuns.push(await measure(plain, total, concurrency, ++round));
          fetchConns += openedBetween(mark, await sandboxConnections(sb));

          // A fresh flow each round: its pool's connections are counted over its whole life.
          mark = await sandboxConnections(sb);
          const node = await nodeSide(sb, op, ids);
          let opened = 0;
          try {
            await node.run(300, concurrency, ++round);
            nodeRuns.push(await measure(node, total, concurrency, ++round));
            opened = node.connectionsOpened();
          } finally {
            await node.close();
          }
          nodeConns = Math.max(nodeConns, opened);
          nodeAccepted = Math.max(nodeAccepted, openedBetween(mark, await sandboxConnections(sb)));
        }
        const fetchRate = median(fetchRuns.map((m) => m.rate));
        const nodeRate = median(nodeRuns.map((m) => m.rate));
        console.log(
          `${`${op} c=${concurrency}`.padEnd(16)}${fetchRate.toFixed(0).padStart(12)}${nodeRate.toFixed(0).padStart(12)}` +
            `${(nodeRate / fetchRate).toFixed(2).padStart(8)}${String(fetchConns).padStart(13)}${`${nodeConns}/${nodeAccepted}`.padStart(12)}` +
            `${`${median(fetchRuns.map((m) => m.cpuUsPerReq)).toFixed(0)} us`.padStart(15)}` +
            `${`${median(nodeRuns.map((m) => m.cpuUsPerReq)).toFixed(0)} us`.padStart(14)}`,
        );
      }
    }
    console.log(
      "ratio = node req/s / fetch req/s (target >= 0.85); node conns = TCP connections one flow's pool opened, " +
        "by the client's count / by the sandbox's " +
        `(target <= maxConcurrent ${MAX_CONCURRENT}); cpu/req = this process's CPU per request (the sandbox's excluded)`,
    );
  } finally {
    sb.child.kill("SIGTERM");
  }
}
