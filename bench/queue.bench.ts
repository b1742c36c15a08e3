import Database from "better-sqlite3";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { openSqliteStore } from "../lib/store/sqlite";
import type { QueueHandle } from "../lib/store/types";
import { mllpPort } from "../test/support/mllp-port";
import { startRuntime, type FlowNode } from "../test/support/red-runtime";
import { closedLoop } from "./hl7.bench";
import { cpuMs, load, signAhead } from "./webhook.bench";

/**
 * The durable queue (issue 12, benchmark 6):
 *
 * (a) lib: messages/s through enqueue -> claim -> done on the SQLite store, synchronous normal
 *     and full, 8 producers each enqueueing its next message when the last is committed (what
 *     concurrent webhook deliveries do) and a consumer claiming and finishing them; against a
 *     baseline of bare better-sqlite3 doing the same INSERT and DELETE per message in group
 *     commits of the same size, in the same run. Memory (RSS, heap) before and after 100,000
 *     messages. Target: >= 10,000 msg/s with normal.
 * (b) Node-RED: http in -> webhook-verify -> durable-queue -> (accepted) http response, the
 *     delivery path ending in queue-done, against http in -> webhook-verify -> http response, in
 *     one runtime, rounds paired as in the webhook benchmark. Target ratio >= 0.7.
 * (c) Node-RED: MLLP with AA after commit (mllp-in ack flow -> durable-queue -> mllp-out reply
 *     AA) over 8 connections, against mllp-in ack flow -> mllp-out reply. Target >= 2,000 msg/s.
 */

const PAYLOAD = {
  resourceType: "Patient",
  identifier: [{ system: "urn:healthbridge:pms:patient", value: "pat-00042" }],
  name: [{ family: "O'Brien", given: ["Zoë"] }],
  birthDate: "1980-04-01",
  telecom: [{ system: "phone", value: "(555) 010-0000" }],
};
const fmt = (n: number): string => Math.round(n).toLocaleString("en-US");
const mib = (bytes: number): string => `${(bytes / 1048576).toFixed(1)} MiB`;

/** Messages/s through enqueue -> claim -> done: 8 producers, each enqueueing when its last is committed, and one consumer. */
export async function throughput(queue: QueueHandle, count: number): Promise<number> {
  const producers = 8;
  let produced = 0;
  let done = 0;
  const started = performance.now();
  const produce = async (): Promise<void> => {
    while (produced < count) {
      produced++;
      await queue.enqueue({ msg: { payload: PAYLOAD, topic: "patient.updated" }, key: `k${produced % 500}` });
    }
  };
  const consume = async (): Promise<void> => {
    while (done < count) {
      // Never more than this consumer's share: another process may be finishing the rest.
      const batch = await queue.claim(Math.min(256, count - done), 60_000);
      if (batch.length === 0) {
        await new Promise((r) => setImmediate(r));
        continue;
      }
      await Promise.all(batch.map((d) => queue.complete(d.id, d.attempt)));
      done += batch.length;
    }
  };
  await Promise.all([...Array.from({ length: producers }, produce), consume()]);
  return (count * 1000) / (performance.now() - started);
}

/** The same rows written and deleted with better-sqlite3 alone, `batch` messages per commit. */
function baseline(file: string, synchronous: string, count: number, batch: number): number {
  const db = new Database(file);
  db.pragma("journal_mode = WAL");
  db.pragma(`synchronous = ${synchronous}`);
  db.exec(
    "CREATE TABLE m (id INTEGER PRIMARY KEY AUTOINCREMENT, queue TEXT, key TEXT, state INT, body BLOB)",
  );
  const insert = db.prepare("INSERT INTO m (queue, key, state, body) VALUES ('q', ?, 0, ?)");
  const claim = db.prepare("UPDATE m SET state = 1 WHERE id = ?");
  const remove = db.prepare("DELETE FROM m WHERE id = ?");
  const body = Buffer.from(JSON.stringify({ payload: PAYLOAD, topic: "patient.updated" }));
  const started = performance.now();
  for (let n = 0; n < count; n += batch) {
    const ids: number[] = [];
    db.transaction(() => {
      for (let i = 0; i < batch; i++) ids.push(Number(insert.run(`k${(n + i) % 500}`, body).lastInsertRowid));
    })();
    db.transaction(() => {
      for (const id of ids) claim.run(id);
    })();
    db.transaction(() => {
      for (const id of ids) remove.run(id);
    })();
  }
  const rate = (count * 1000) / (performance.now() - started);
  db.close();
  return rate;
}

async function libBench(): Promise<void> {
  console.log(
    "(a) lib/store SQLite: enqueue -> claim -> done, 8 producers, 500 keys, 40,000 messages per figure",
  );
  for (const synchronous of ["normal", "full"] as const) {
    const dir = mkdtempSync(join(tmpdir(), "pms-ehr-queue-bench-"));
    try {
      const store = openSqliteStore({ file: join(dir, "q.db"), synchronous, purgeIntervalMs: 0 });
      const queue = store.openQueue("bench", { maxAttempts: 10, maxAgeMs: 86_400_000, dedupeWindowMs: 0 });
      await throughput(queue, 5000); // warm-up
      const commitsBefore = store.commits;
      const rate = await throughput(queue, 40_000);
      const perCommit = (40_000 * 3) / (store.commits - commitsBefore);
      await store.close();
      const base = baseline(join(dir, "base.db"), synchronous.toUpperCase(), 40_000, 8);
      console.log(
        `  synchronous ${synchronous}: ${fmt(rate)} msg/s (${perCommit.toFixed(1)} writes per commit); ` +
          `bare better-sqlite3, same rows, commits of 8: ${fmt(base)} msg/s; ratio ${(rate / base).toFixed(2)}` +
          (synchronous === "normal" ? " (target >= 10,000 msg/s)" : ""),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const dir = mkdtempSync(join(tmpdir(), "pms-ehr-queue-bench-"));
  try {
    const store = openSqliteStore({ file: join(dir, "q.db"), purgeIntervalMs: 0 });
    const queue = store.openQueue("bench", { maxAttempts: 10, maxAgeMs: 86_400_000, dedupeWindowMs: 0 });
    await throughput(queue, 10_000);
    global.gc?.();
    const rss0 = process.memoryUsage().rss;
    const heap0 = process.memoryUsage().heapUsed;
    await throughput(queue, 100_000);
    global.gc?.();
    const rss1 = process.memoryUsage().rss;
    const heap1 = process.memoryUsage().heapUsed;
    console.log(
      `  memory over 100,000 messages (normal): RSS ${mib(rss0)} -> ${mib(rss1)}, heap ${mib(heap0)} -> ${mib(heap1)}` +
        `${global.gc ? "" : " (run node with --expose-gc for figures after a collection)"}; file ${(
          (store.pageCount() * 4096) /
          1024
        ).toFixed(0)} KiB`,
    );
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const TAB = "bench-queue";
const SECRET = "bench-pms-hmac-secret";

export function flows(dbFile: string): FlowNode[] {
  const at = (x: number, y: number) => ({ z: TAB, x, y });
  const httpIn = (id: string, url: string, next: string, y: number): FlowNode => ({
    id,
    type: "http in",
    ...at(100, y),
    url,
    method: "post",
    upload: false,
    skipBodyParsing: true,
    swaggerDoc: "",
    wires: [[next]],
  });
  const verify = (id: string, wires: string[][], y: number): FlowNode => ({
    id,
    type: "webhook-verify",
    ...at(300, y),
    scheme: "pms-hmac",
    tolerance: "300",
    maxBytes: "1048576",
    maxIds: "0",
    respond: false,
    integration: "bench",
    store: "",
    wires,
  });
  const reply = (id: string, y: number): FlowNode => ({
    id,
    type: "http response",
    ...at(700, y),
    statusCode: "202",
    headers: {},
    wires: [],
  });
  // Port 0: each listener binds a free port and logs it (read by mllpPort).
  const mllpIn = (id: string, next: string, y: number): FlowNode => ({
    id,
    type: "mllp-in",
    ...at(100, y),
    host: "127.0.0.1",
    port: "0",
    ack: "flow",
    maxBytes: "1048576",
    dedupe: "0",
    idleTimeout: "0",
    maxConnections: "0",
    replyTimeout: "30",
    integration: "hl7",
    wires: [[next]],
  });
  return [
    { id: TAB, type: "tab", label: "queue bench" },
    { id: "store", type: "message-store", name: "bench", file: dbFile, synchronous: "normal" },
    httpIn("in-plain", "/bench/verify", "verify-plain", 40),
    verify("verify-plain", [["out-plain"], ["out-plain"]], 40),
    reply("out-plain", 40),
    httpIn("in-queue", "/bench/queue", "verify-queue", 100),
    verify("verify-queue", [["queue"], ["out-queue"]], 100),
    {
      id: "queue",
      type: "durable-queue",
      ...at(500, 100),
      store: "store",
      queue: "webhooks",
      key: "payload.resourceId",
      keyType: "msg",
      dedupe: "webhook.id",
      concurrency: "8",
      wires: [["out-queue"], ["done"]],
    },
    reply("out-queue", 100),
    { id: "done", type: "queue-done", ...at(700, 160), result: "success", wires: [] },
    mllpIn("mllp-reply", "aa-reply", 220),
    { id: "aa-reply", type: "mllp-out", ...at(300, 220), mode: "reply", ackCode: "AA", wires: [[]] },
    mllpIn("mllp-queued", "hl7-queue", 280),
    {
      id: "hl7-queue",
      type: "durable-queue",
      ...at(300, 280),
      store: "store",
      queue: "hl7",
      key: "hl7.controlId",
      keyType: "msg",
      concurrency: "8",
      wires: [["aa-queued"], ["hl7-done"]],
    },
    { id: "aa-queued", type: "mllp-out", ...at(500, 280), mode: "reply", ackCode: "AA", wires: [[]] },
    { id: "hl7-done", type: "queue-done", ...at(500, 340), result: "success", wires: [] },
  ];
}

const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 3);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);

async function nodeRedBench(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "pms-ehr-queue-bench-nr-"));
  const rt = await startRuntime({
    flows: flows(join(dir, "bench.db")),
    credentials: { "verify-plain": { secrets: SECRET }, "verify-queue": { secrets: SECRET } },
  });
  try {
    const pid = rt.process.child.pid;
    console.log(
      `(b) Node-RED 4.1 (child process), autocannon 10 connections, ${ROUNDS} rounds of ${DURATION_S} s per route, ` +
        "each queue round paired with a baseline round run just before it; ratio = median of the pairs",
    );
    const measure = async (path: string): Promise<{ rate: number; cpuUs?: number }> => {
      const ahead = signAhead("pms-hmac", path, 6000 * DURATION_S);
      const before = cpuMs(pid);
      const r = await load(rt.url, path, "pms-hmac", DURATION_S, ahead);
      const after = cpuMs(pid);
      if (r.non2xx > 0 || r.errors > 0) throw new Error(`${path}: ${r.non2xx} non-2xx, ${r.errors} errors`);
      return {
        rate: r.requests.average,
        cpuUs:
          before !== undefined && after !== undefined
            ? ((after - before) * 1000) / r.requests.total
            : undefined,
      };
    };
    await measure("/bench/verify");
    await measure("/bench/queue");
    const pairs: Array<{ base: number; queue: number; ratio: number; cpu?: number }> = [];
    for (let round = 0; round < ROUNDS; round++) {
      const base = await measure("/bench/verify");
      const queue = await measure("/bench/queue");
      pairs.push({
        base: base.rate,
        queue: queue.rate,
        ratio: queue.rate / base.rate,
        cpu: base.cpuUs !== undefined && queue.cpuUs !== undefined ? base.cpuUs / queue.cpuUs : undefined,
      });
    }
    const mid = (values: number[]): number =>
      [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)];
    console.log(
      `  http in -> webhook-verify -> http response (baseline): ${fmt(mid(pairs.map((p) => p.base)))} req/s\n` +
        `  ... -> durable-queue -> http response 202 after commit, delivered to queue-done: ${fmt(mid(pairs.map((p) => p.queue)))} req/s\n` +
        `  ratio queue / baseline: ${mid(pairs.map((p) => p.ratio)).toFixed(3)} (target >= 0.7; pairs ${pairs
          .map((p) => p.ratio.toFixed(2))
          .join(" ")})` +
        (pairs.every((p) => p.cpu !== undefined)
          ? `; CPU per request baseline / queue ${mid(pairs.map((p) => p.cpu as number)).toFixed(3)}`
          : ""),
    );
    // Every accepted delivery was also delivered (the queue is not left behind).
    await new Promise((r) => setTimeout(r, 2000));
    const listing = await rt.getJson<{
      stores: Array<{ queues: Array<{ queue: string; depth: number; deliveredTotal: number }> }>;
    }>("/pms-ehr/queues");
    const webhooks = listing.stores[0].queues.find((q) => q.queue === "webhooks");
    console.log(
      `  queue after the runs: depth ${webhooks?.depth}, delivered ${fmt(webhooks?.deliveredTotal ?? 0)}`,
    );

    const ports = { reply: await mllpPort(rt, "mllp-reply"), queued: await mllpPort(rt, "mllp-queued") };
    const template = readFileSync(
      join(__dirname, "..", "..", "test", "fixtures", "hl7", "adt-a01-v2.5.1.hl7"),
      "utf8",
    );
    console.log("(c) MLLP, 8 connections each sending on the last ACK, ~650 B ADT^A01, 6 s per figure");
    await closedLoop(ports.reply, template, 1500);
    await closedLoop(ports.queued, template, 1500);
    const plain = await closedLoop(ports.reply, template, 6000);
    const queued = await closedLoop(ports.queued, template, 6000);
    const p = (lat: number[], q: number): string =>
      lat[Math.min(lat.length - 1, Math.floor((q / 100) * lat.length))].toFixed(2);
    console.log(
      `  mllp-in (ack flow) -> mllp-out reply AA (baseline): ${fmt(plain.rate)} msg/s, ACK p50 ${p(plain.lat, 50)} ms, p99 ${p(plain.lat, 99)} ms\n` +
        `  mllp-in (ack flow) -> durable-queue -> mllp-out reply AA after commit: ${fmt(queued.rate)} msg/s, ` +
        `ACK p50 ${p(queued.lat, 50)} ms, p99 ${p(queued.lat, 99)} ms (target >= 2,000 msg/s)\n` +
        `  ratio ${(queued.rate / plain.rate).toFixed(2)}`,
    );
  } finally {
    await rt.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** BENCH_QUEUE_PARTS=lib or =node-red runs one half. */
export async function run(): Promise<void> {
  const parts = process.env.BENCH_QUEUE_PARTS ?? "lib,node-red";
  console.log(`machine: ${cpus().length} cores, load average ${loadavg()[0].toFixed(2)}`);
  if (parts.includes("lib")) await libBench();
  if (parts.includes("node-red")) await nodeRedBench();
}
