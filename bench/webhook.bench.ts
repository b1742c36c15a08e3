import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { signWebhook, type WebhookScheme } from "../lib/webhook/schemes";
import { startRuntime, type FlowNode } from "../test/support/red-runtime";

/**
 * Requests/s through `http in` -> `webhook-verify` -> `http response` against `http in` ->
 * `http response` alone, in one real Node-RED runtime (child process), driven by autocannon on
 * loopback in the same run. Every request carries a distinct delivery id (replay protection
 * would answer repeats as duplicates), with the same bytes on the baseline route. Deliveries are
 * signed before each round, so that signing in this process does not take CPU from Node-RED
 * while it is measured. Prints req/s, latency and the ratio verify/baseline (target >= 0.9),
 * and, on Linux, the Node-RED process's CPU time per request, whose ratio is far less sensitive
 * to whatever else shares the machine than req/s is. Two reference routes show what any node
 * adds: one more hop that does nothing (`change` without rules), and one that parses the body
 * as JSON (`json`), after which `http response` serializes an object instead of echoing bytes.
 */

interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { average: number; p50: number; p97_5: number; p99: number };
  non2xx: number;
  errors: number;
  timeouts: number;
}

interface AutocannonRequest {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  setupRequest?: (req: AutocannonRequest) => AutocannonRequest;
}

type Autocannon = (opts: Record<string, unknown>) => Promise<AutocannonResult>;

const autocannon = createRequire(__filename)("autocannon") as Autocannon;

const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 3);
/**
 * Every route is measured ROUNDS times, each time right after a round of the baseline, and its
 * ratio is the median of those pairs' ratios: on a shared machine the speed drifts within a
 * minute, so only rounds run back to back compare fairly.
 */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const CONNECTIONS = 10;
const SECRET: Record<string, string> = {
  "standard-webhooks": "whsec_" + Buffer.from("bench-standard-webhooks-secret!!").toString("base64"),
  "pms-hmac": "bench-pms-hmac-secret",
};
const TAB = "bench-webhook";

function flows(): FlowNode[] {
  const nodes: FlowNode[] = [{ id: TAB, type: "tab", label: "webhook bench" }];
  const reply = (id: string, y: number): FlowNode => ({
    id,
    type: "http response",
    z: TAB,
    statusCode: "202",
    headers: {},
    x: 600,
    y,
    wires: [],
  });
  const httpIn = (id: string, url: string, next: string, y: number): FlowNode => ({
    id,
    type: "http in",
    z: TAB,
    url,
    method: "post",
    upload: false,
    skipBodyParsing: true,
    swaggerDoc: "",
    x: 100,
    y,
    wires: [[next]],
  });
  nodes.push(httpIn("in-plain", "/bench/plain", "out-plain", 40), reply("out-plain", 40));
  let y = 100;
  const verify = (id: string, scheme: string, respond: boolean, wires: string[][]): FlowNode => ({
    id,
    type: "webhook-verify",
    z: TAB,
    scheme,
    tolerance: "300",
    maxBytes: "1048576",
    maxIds: "10000",
    respond,
    integration: "bench",
    store: "",
    x: 350,
    y,
    wires,
  });
  for (const scheme of Object.keys(SECRET)) {
    nodes.push(
      httpIn(`in-${scheme}`, `/bench/${scheme}`, `verify-${scheme}`, y),
      verify(`verify-${scheme}`, scheme, false, [[`out-${scheme}`], [`out-${scheme}`]]),
      reply(`out-${scheme}`, y),
    );
    y += 60;
  }
  // The default mode: webhook-verify answers 202 itself, no http response node.
  nodes.push(
    httpIn("in-respond", "/bench/respond", "verify-respond", y),
    verify("verify-respond", "standard-webhooks", true, [[], []]),
  );
  y += 60;
  nodes.push(
    httpIn("in-noop", "/bench/noop", "ref-noop", y),
    { id: "ref-noop", type: "change", z: TAB, rules: [], x: 350, y, wires: [["out-noop"]] },
    reply("out-noop", y),
  );
  y += 60;
  nodes.push(
    httpIn("in-json", "/bench/json", "ref-json", y),
    {
      id: "ref-json",
      type: "json",
      z: TAB,
      property: "payload",
      action: "obj",
      x: 350,
      y,
      wires: [["out-json"]],
    },
    reply("out-json", y),
  );
  return nodes;
}

let counter = 0;

/** A fresh delivery: distinct id, current timestamp, signed for the route that verifies `scheme`. */
export function delivery(
  scheme: WebhookScheme,
  path: string,
): { headers: Record<string, string>; body: string } {
  counter++;
  const body = JSON.stringify({
    eventType: "patient.updated",
    resourceType: "patient",
    resourceId: `pat-${String(counter % 200).padStart(5, "0")}`,
    timestamp: new Date().toISOString(),
    data: { id: `pat-${counter}`, firstName: "Zoë", lastName: "O'Brien", phone: "(555) 010-0000" },
  });
  const headers = signWebhook({
    scheme,
    secret: SECRET[scheme],
    body,
    id: `msg_bench_${counter}`,
    method: "POST",
    pathWithQuery: path,
  });
  return { headers: { "content-type": "application/json", ...headers }, body };
}

type Delivery = ReturnType<typeof delivery>;

/** `count` deliveries signed now, to be sent within the timestamp tolerance. */
export function signAhead(scheme: WebhookScheme, path: string, count: number): Delivery[] {
  return Array.from({ length: count }, () => delivery(scheme, path));
}

export async function load(
  url: string,
  path: string,
  scheme: WebhookScheme,
  seconds: number,
  ahead: Delivery[] = [],
): Promise<AutocannonResult> {
  let next = 0;
  return autocannon({
    url,
    connections: CONNECTIONS,
    duration: seconds,
    requests: [
      {
        method: "POST",
        path,
        // Should the deliveries signed ahead run out, the rest are signed as they go.
        setupRequest: (req: AutocannonRequest) => ({
          ...req,
          ...(next < ahead.length ? ahead[next++] : delivery(scheme, path)),
        }),
      },
    ],
  });
}

const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU time (user + system, ms) a process has used so far, from /proc; undefined elsewhere. */
export function cpuMs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}

interface Round {
  result: AutocannonResult;
  /** Node-RED CPU µs per request in this round. */
  cpuUs?: number;
}

/** The round with the median request rate (its latency figures come with it). */
function median(list: Round[]): AutocannonResult {
  const sorted = [...list].sort((a, b) => a.result.requests.average - b.result.requests.average);
  return sorted[Math.floor((sorted.length - 1) / 2)].result;
}

function medianCpu(list: Round[]): number | undefined {
  const values = list.map((r) => r.cpuUs).filter((v): v is number => v !== undefined);
  if (values.length === 0) return undefined;
  values.sort((a, b) => a - b);
  return values[Math.floor((values.length - 1) / 2)];
}

function line(name: string, r: AutocannonResult): string {
  return (
    `${name.padEnd(34)} ${r.requests.average.toFixed(0).padStart(7)} req/s   latency avg ${r.latency.average.toFixed(2)} ms` +
    `  p50 ${r.latency.p50} ms  p97.5 ${r.latency.p97_5} ms  p99 ${r.latency.p99} ms`
  );
}

export async function run(): Promise<void> {
  const credentials: Record<string, Record<string, unknown>> = Object.fromEntries(
    Object.entries(SECRET).map(([scheme, secret]) => [`verify-${scheme}`, { secrets: secret }]),
  );
  credentials["verify-respond"] = { secrets: SECRET["standard-webhooks"] };
  const rt = await startRuntime({ flows: flows(), credentials });
  try {
    console.log(
      `autocannon: ${CONNECTIONS} connections, ${ROUNDS} rounds of ${DURATION_S} s per route in turn, loopback, ` +
        `Node-RED in a child process; each round of a route is paired with a baseline round run just before it, ` +
        `and a ratio is the median of its pairs' ratios`,
    );
    const routes: Array<[string, string, WebhookScheme]> = [
      ["http in -> http response", "/bench/plain", "standard-webhooks"],
      ["+ webhook-verify standard-webhooks", "/bench/standard-webhooks", "standard-webhooks"],
      ["+ webhook-verify pms-hmac", "/bench/pms-hmac", "pms-hmac"],
      ["webhook-verify replying 202 itself", "/bench/respond", "standard-webhooks"],
      ["+ change, no rules (reference)", "/bench/noop", "standard-webhooks"],
      ["+ json (reference)", "/bench/json", "standard-webhooks"],
    ];
    const rates: number[] = [];
    for (const [, path, scheme] of routes) rates.push((await load(rt.url, path, scheme, 2)).requests.average);
    const pid = rt.process.child.pid;
    const measure = async (i: number): Promise<Round> => {
      const [name, path, scheme] = routes[i];
      const ahead = signAhead(scheme, path, Math.ceil(rates[i] * DURATION_S * 1.5) + 1000);
      const before = cpuMs(pid);
      const r = await load(rt.url, path, scheme, DURATION_S, ahead);
      const after = cpuMs(pid);
      rates[i] = r.requests.average;
      if (r.non2xx > 0 || r.errors > 0) {
        throw new Error(`${name}: ${r.non2xx} non-2xx answers and ${r.errors} errors: the run is not valid`);
      }
      const cpuUs =
        before !== undefined && after !== undefined
          ? ((after - before) * 1000) / r.requests.total
          : undefined;
      return { result: r, cpuUs };
    };
    const rounds: Round[][] = routes.map(() => []);
    /** Per route: its req/s and CPU ratios to the baseline round run just before it. */
    const pairs: Array<Array<{ rate: number; cpu?: number }>> = routes.map(() => []);
    for (let round = 0; round < ROUNDS; round++) {
      // Each round starts with the next route, so that none always follows the same one.
      for (let turn = 0; turn < routes.length - 1; turn++) {
        const i = 1 + ((round + turn) % (routes.length - 1));
        const base = await measure(0);
        const other = await measure(i);
        rounds[0].push(base);
        rounds[i].push(other);
        pairs[i].push({
          rate: other.result.requests.average / base.result.requests.average,
          cpu: base.cpuUs !== undefined && other.cpuUs !== undefined ? base.cpuUs / other.cpuUs : undefined,
        });
      }
    }
    const medians = rounds.map((list) => median(list));
    const cpus = rounds.map((list) => medianCpu(list));
    routes.forEach(([name], i) => {
      console.log(line(name, medians[i]));
      const cpu =
        cpus[i] === undefined ? "" : `; Node-RED CPU ${(cpus[i] as number).toFixed(0)} us/request (median)`;
      console.log(
        `${"".padEnd(34)} rounds: ${rounds[i].map((r) => r.result.requests.average.toFixed(0)).join(", ")} req/s${cpu}`,
      );
    });
    const mid = (values: number[]): number => {
      const sorted = [...values].sort((a, b) => a - b);
      return sorted[Math.floor((sorted.length - 1) / 2)];
    };
    for (let i = 1; i < routes.length; i++) {
      const name = routes[i][0].replace(/^\+ /, "").replace(/ \(reference\)$/, "");
      const cpuRatios = pairs[i].map((p) => p.cpu).filter((v): v is number => v !== undefined);
      const cpu = cpuRatios.length ? `, CPU per request ${mid(cpuRatios).toFixed(3)}` : "";
      const target = routes[i][0].endsWith("(reference)") ? "reference" : "target >= 0.9";
      console.log(
        `ratio ${name} / baseline: req/s ${mid(pairs[i].map((p) => p.rate)).toFixed(3)}${cpu} (${target}; ` +
          `median of ${pairs[i].length} pairs, req/s ratios ${pairs[i].map((p) => p.rate.toFixed(2)).join(" ")})`,
      );
    }
  } finally {
    await rt.stop();
  }
}
