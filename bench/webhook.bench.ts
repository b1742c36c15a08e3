import { createRequire } from "node:module";
import { signWebhook, type WebhookScheme } from "../lib/webhook/schemes";
import { startRuntime, type FlowNode } from "../test/support/red-runtime";

/**
 * Requests/s through `http in` -> `webhook-verify` -> `http response` against `http in` ->
 * `http response` alone, in one real Node-RED runtime (child process), driven by autocannon on
 * loopback in the same run. Every request carries a distinct delivery id signed just before it
 * is sent (replay protection would answer repeats as duplicates), with the same bytes on the
 * baseline route. Prints req/s, latency and the ratio verify/baseline (target >= 0.9).
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

const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 5);
/** Routes are measured in turn, ROUNDS times, and each figure is the median of its rounds: on a shared machine one long run per route mostly measures what else ran at the time. */
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
  for (const scheme of Object.keys(SECRET)) {
    nodes.push(
      httpIn(`in-${scheme}`, `/bench/${scheme}`, `verify-${scheme}`, y),
      {
        id: `verify-${scheme}`,
        type: "webhook-verify",
        z: TAB,
        scheme,
        tolerance: "300",
        maxBytes: "1048576",
        maxIds: "10000",
        respond: false,
        integration: "bench",
        store: "",
        x: 350,
        y,
        wires: [[`out-${scheme}`], [`out-${scheme}`]],
      },
      reply(`out-${scheme}`, y),
    );
    y += 60;
  }
  return nodes;
}

let counter = 0;

/** A fresh delivery: distinct id, current timestamp, signed for the route that verifies `scheme`. */
function delivery(scheme: WebhookScheme, path: string): { headers: Record<string, string>; body: string } {
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

async function load(
  url: string,
  path: string,
  scheme: WebhookScheme,
  seconds: number,
): Promise<AutocannonResult> {
  return autocannon({
    url,
    connections: CONNECTIONS,
    duration: seconds,
    requests: [
      {
        method: "POST",
        path,
        setupRequest: (req: AutocannonRequest) => ({ ...req, ...delivery(scheme, path) }),
      },
    ],
  });
}

/** The round with the median request rate (its latency figures come with it). */
function median(list: AutocannonResult[]): AutocannonResult {
  const sorted = [...list].sort((a, b) => a.requests.average - b.requests.average);
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

function line(name: string, r: AutocannonResult): string {
  return (
    `${name.padEnd(34)} ${r.requests.average.toFixed(0).padStart(7)} req/s   latency avg ${r.latency.average.toFixed(2)} ms` +
    `  p50 ${r.latency.p50} ms  p97.5 ${r.latency.p97_5} ms  p99 ${r.latency.p99} ms`
  );
}

export async function run(): Promise<void> {
  const credentials = Object.fromEntries(
    Object.entries(SECRET).map(([scheme, secret]) => [`verify-${scheme}`, { secrets: secret }]),
  );
  const rt = await startRuntime({ flows: flows(), credentials });
  try {
    console.log(
      `autocannon: ${CONNECTIONS} connections, ${ROUNDS} rounds of ${DURATION_S} s per route in turn, loopback, ` +
        `Node-RED in a child process; median round shown`,
    );
    const routes: Array<[string, string, WebhookScheme]> = [
      ["http in -> http response", "/bench/plain", "standard-webhooks"],
      ["+ webhook-verify standard-webhooks", "/bench/standard-webhooks", "standard-webhooks"],
      ["+ webhook-verify pms-hmac", "/bench/pms-hmac", "pms-hmac"],
    ];
    for (const [, path, scheme] of routes) await load(rt.url, path, scheme, 2);
    const rounds: AutocannonResult[][] = routes.map(() => []);
    for (let round = 0; round < ROUNDS; round++) {
      for (let i = 0; i < routes.length; i++) {
        const [name, path, scheme] = routes[i];
        const r = await load(rt.url, path, scheme, DURATION_S);
        if (r.non2xx > 0 || r.errors > 0) {
          throw new Error(
            `${name}: ${r.non2xx} non-2xx answers and ${r.errors} errors: the run is not valid`,
          );
        }
        rounds[i].push(r);
      }
    }
    const medians = rounds.map((list) => median(list));
    routes.forEach(([name], i) => {
      console.log(line(name, medians[i]));
      console.log(
        `${"".padEnd(34)} rounds: ${rounds[i].map((r) => r.requests.average.toFixed(0)).join(", ")} req/s`,
      );
    });
    const base = medians[0].requests.average;
    for (let i = 1; i < routes.length; i++) {
      const ratio = medians[i].requests.average / base;
      console.log(`ratio ${routes[i][0].slice(2)} / baseline: ${ratio.toFixed(3)} (target >= 0.9)`);
    }
  } finally {
    await rt.stop();
  }
}
