import { Agent as HttpAgent, createServer, request as httpRequest, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";
import { fetch as undiciFetch, Pool } from "undici";
import { FhirClient } from "../lib/fhir";
import { startFhirSandbox } from "../sandbox/fhir/server";

/**
 * FHIR client throughput: FhirClient (undici request over a Pool, limiter, retries, meta) against
 * bare undici request, undici fetch over the same kind of Pool, and node:http with a keep-alive
 * Agent, all reading one Patient from a minimal local server with 8 connections. Then the client
 * against the sandbox: 50 parallel reads, connections opened vs maxConcurrent.
 */

const CONNECTIONS = 8;
const WORKERS = 32;
const REQUESTS = 3000;

const PATIENT = JSON.stringify({
  resourceType: "Patient",
  id: "bench-1",
  meta: { versionId: "1", lastUpdated: "2024-01-01T00:00:00Z" },
  identifier: [{ system: "urn:oid:1.2.36.146.595.217.0.1", value: "12345" }],
  name: [{ family: "Bench", given: ["Mark", "A"] }],
  gender: "other",
  birthDate: "1970-01-01",
  address: [{ line: ["1 Main St"], city: "Springfield", postalCode: "12345", country: "US" }],
});

async function rate(total: number, one: () => Promise<void>): Promise<number> {
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: WORKERS }, async () => {
      while (next++ < total) await one();
    }),
  );
  return total / ((performance.now() - start) / 1000);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

interface Variant {
  label: string;
  one: () => Promise<void>;
  rates: number[];
}

/** Rounds interleave the variants, so that load from elsewhere on the machine hits them alike. */
async function compare(variants: Variant[], rounds: number): Promise<void> {
  for (const v of variants) for (let i = 0; i < 300; i++) await v.one();
  for (let r = 0; r < rounds; r++) {
    for (const v of variants) v.rates.push(await rate(REQUESTS, v.one));
  }
  for (const v of variants) {
    console.log(
      `${v.label.padEnd(36)} ${median(v.rates).toFixed(0).padStart(7)} req/s (median of ${rounds})`,
    );
  }
}

export async function run(): Promise<void> {
  let connections = 0;
  const server: Server = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "application/fhir+json", etag: 'W/"1"' });
    res.end(PATIENT);
  });
  server.on("connection", () => connections++);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  const origin = `http://127.0.0.1:${port}`;
  const path = "/fhir/Patient/bench-1";
  console.log(
    `${REQUESTS} reads of a ${PATIENT.length}-byte Patient, ${WORKERS} callers, ${CONNECTIONS} connections`,
  );

  const pool = new Pool(origin, { connections: CONNECTIONS });
  const fetchPool = new Pool(origin, { connections: CONNECTIONS });
  const agent = new HttpAgent({ keepAlive: true, maxSockets: CONNECTIONS });
  const before = connections;
  const client = new FhirClient({ baseUrl: `${origin}/fhir`, authType: "none", maxConcurrent: CONNECTIONS });
  const accept = { accept: "application/fhir+json" };
  const variants: Variant[] = [
    {
      label: "undici pool.request (baseline)",
      rates: [],
      one: async () => {
        const res = await pool.request({ path, method: "GET", headers: accept });
        JSON.parse(await res.body.text());
      },
    },
    {
      label: "undici fetch (Pool dispatcher)",
      rates: [],
      one: async () => {
        const res = await undiciFetch(origin + path, { dispatcher: fetchPool, headers: accept });
        await res.json();
      },
    },
    {
      label: "node:http keep-alive Agent",
      rates: [],
      one: () =>
        new Promise<void>((resolve, reject) => {
          const req = httpRequest({ host: "127.0.0.1", port, path, agent, headers: accept }, (res) => {
            let text = "";
            res.setEncoding("utf8");
            res.on("data", (c: string) => (text += c));
            res.on("end", () => {
              JSON.parse(text);
              resolve();
            });
          });
          req.on("error", reject);
          req.end();
        }),
    },
    {
      label: "FhirClient.interaction(read)",
      rates: [],
      one: async () => {
        await client.interaction({ operation: "read", resourceType: "Patient", id: "bench-1" });
      },
    },
  ];
  await compare(variants, 3);
  const { connectionsOpened: opened, connectionsPeak: peak } = client.stats();
  await Promise.all([pool.close(), fetchPool.close(), client.close()]);
  agent.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  const [baseline, fetchRate, nodeRate, clientRate] = variants.map((v) => median(v.rates)) as [
    number,
    number,
    number,
    number,
  ];

  console.log("");
  console.log(`ratio fetch / request:          ${(fetchRate / baseline).toFixed(2)}`);
  console.log(`ratio node:http / request:      ${(nodeRate / baseline).toFixed(2)}`);
  console.log(`ratio FhirClient / request:     ${(clientRate / baseline).toFixed(2)}`);
  console.log(
    `FhirClient connections: at most ${peak} open at once, ${opened} opened over all rounds ` +
      `(an idle socket closed between rounds is opened again); maxConcurrent ${CONNECTIONS}`,
  );
  console.log(`server connections (all four clients): ${connections - before}`);

  const sandbox = await startFhirSandbox({ port: 0 });
  try {
    const seed = new FhirClient({ baseUrl: sandbox.url, authType: "none" });
    const created = await seed.interaction({
      operation: "create",
      body: { resourceType: "Patient", name: [{ family: "Bench" }] },
    });
    await seed.close();
    const id = (created.body as { id: string }).id;
    for (const maxConcurrent of [4, 8]) {
      const pooled = new FhirClient({ baseUrl: sandbox.url, authType: "none", maxConcurrent });
      const serverBefore = sandbox.stats().connections;
      const start = performance.now();
      const reads = await Promise.all(
        Array.from({ length: 50 }, () =>
          pooled.interaction({ operation: "read", resourceType: "Patient", id }),
        ),
      );
      const ms = performance.now() - start;
      const okCount = reads.filter((r) => r.meta.status === 200).length;
      console.log(
        `sandbox, 50 parallel reads, maxConcurrent ${maxConcurrent}: ${okCount} ok in ${ms.toFixed(0)} ms, ` +
          `connections opened ${pooled.stats().connectionsOpened} (server saw ${sandbox.stats().connections - serverBefore}), ` +
          `peak ${pooled.stats().connectionsPeak}, maxConcurrent ${maxConcurrent}`,
      );
      await pooled.close();
    }
  } finally {
    await sandbox.close();
  }
}
