import { fork } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { openPgStore } from "../lib/store/postgres";
import { openSqliteStore } from "../lib/store/sqlite";
import type { QueueHandle, QueueOptions } from "../lib/store/types";
import { startPostgres } from "../test/support/pg";
import { throughput } from "./queue.bench";

/**
 * The message store on PostgreSQL (issue #16, benchmark 5), against SQLite in the same run:
 *
 * (a) messages/s through enqueue -> claim -> done (8 producers each enqueueing when its last is
 *     committed, one consumer; 500 keys), PostgreSQL against SQLite (synchronous normal), both
 *     durable at the acknowledgement. PostgreSQL here runs on the same 2 cores, with fsync off (a
 *     test server), so the figure is its CPU and round-trip cost, not a disk's.
 * (b) one instance against two: the same load split over two processes (each its own store, pool
 *     and producers and consumer on the shared queue) against one process alone.
 * (c) cost per message as the queue's depth grows to 100,000: the time to claim and finish 2,000
 *     messages with 0, 10,000, 50,000 and 100,000 others waiting (on 1,000 keys).
 */

const OPTIONS: QueueOptions = { maxAttempts: 10, maxAgeMs: 86_400_000, dedupeWindowMs: 0 };
const fmt = (n: number): string => Math.round(n).toLocaleString("en-US");

/** In a child process: the share of (b) one instance does, its rate sent back. */
async function worker(): Promise<void> {
  const [url, schema, count] = [process.env.PG_URL!, process.env.PG_SCHEMA!, Number(process.env.COUNT)];
  const store = openPgStore({ connectionString: url, schema, purgeIntervalMs: 0 });
  await store.ready;
  const queue = store.openQueue("bench", OPTIONS);
  process.send?.({ ready: true });
  await new Promise<void>((resolve) => process.once("message", () => resolve()));
  const rate = await throughput(queue, count);
  await store.close();
  process.send?.({ rate });
}

async function processes(n: number, url: string, schema: string, count: number): Promise<number> {
  const children = Array.from({ length: n }, () =>
    fork(__filename, [], {
      env: {
        ...process.env,
        PMS_QUEUE_BENCH_WORKER: "1",
        PG_URL: url,
        PG_SCHEMA: schema,
        COUNT: String(count / n),
      },
    }),
  );
  const message = (child: (typeof children)[number]) =>
    new Promise<Record<string, number | boolean>>((resolve, reject) => {
      child.once("message", (m) => resolve(m as Record<string, number | boolean>));
      child.once("exit", (code) => reject(new Error(`a bench worker exited with ${code}`)));
    });
  await Promise.all(children.map(message));
  const started = performance.now();
  const done = children.map(message);
  for (const child of children) child.send("go");
  await Promise.all(done);
  return (count * 1000) / (performance.now() - started);
}

async function fill(queue: QueueHandle, n: number): Promise<void> {
  const pending: Array<Promise<unknown>> = [];
  for (let i = 0; i < n; i++) {
    pending.push(queue.enqueue({ msg: { payload: i }, key: `k${i % 1000}` }));
    if (pending.length >= 2000) await Promise.all(pending.splice(0));
  }
  await Promise.all(pending);
}

/** Ms per message to claim and finish 2,000 of what waits (the queue holds `depth` more than that). */
async function depthCost(queue: QueueHandle): Promise<number> {
  const started = performance.now();
  let done = 0;
  // A consumer in the shape durable-queue runs: claim what is due, finish it.
  while (done < 2000) {
    const batch = await queue.claim(64, 600_000);
    if (batch.length === 0) throw new Error("nothing claimable");
    await Promise.all(batch.map((d) => queue.complete(d.id, d.attempt)));
    done += batch.length;
  }
  return (performance.now() - started) / 2000;
}

export async function run(): Promise<void> {
  const ctx = {
    skip(): never {
      throw new Error(
        "no PostgreSQL server binaries here (apt-get install -y postgresql-15, or set PMS_PG_BIN)",
      );
    },
  } as unknown as Mocha.Context;
  const pg = await startPostgres(ctx);
  const dir = mkdtempSync(join(tmpdir(), "pms-ehr-queue-pg-bench-"));
  try {
    console.log("(a) lib/store: enqueue -> claim -> done, 8 producers, 500 keys, 20,000 messages per figure");
    const sqlite = openSqliteStore({ file: join(dir, "q.db"), purgeIntervalMs: 0 });
    const sq = sqlite.openQueue("bench", OPTIONS);
    await throughput(sq, 2000);
    const sqliteRate = await throughput(sq, 20_000);
    await sqlite.close();
    const store = openPgStore({ connectionString: pg.url, schema: "bench_a", purgeIntervalMs: 0 });
    await store.ready;
    const pq = store.openQueue("bench", OPTIONS);
    await throughput(pq, 2000);
    const commits = store.commits;
    const pgRate = await throughput(pq, 20_000);
    const perCall = 20_000 / (store.commits - commits);
    await store.close();
    console.log(
      `  PostgreSQL: ${fmt(pgRate)} msg/s (${perCall.toFixed(1)} enqueues per group commit); SQLite (normal): ${fmt(sqliteRate)} msg/s; ratio ${(pgRate / sqliteRate).toFixed(2)}`,
    );

    console.log("(b) PostgreSQL, one instance against two (processes), 20,000 messages on one queue");
    const one = await processes(1, pg.url, "bench_b1", 20_000);
    const two = await processes(2, pg.url, "bench_b2", 20_000);
    console.log(
      `  one: ${fmt(one)} msg/s; two: ${fmt(two)} msg/s; ratio ${(two / one).toFixed(2)} (two Node.js processes and the server share 2 cores)`,
    );

    console.log("(c) PostgreSQL, cost per message (claim and finish) with others waiting, 1,000 keys");
    const deep = openPgStore({ connectionString: pg.url, schema: "bench_c", purgeIntervalMs: 0 });
    await deep.ready;
    const dq = deep.openQueue("bench", OPTIONS);
    await fill(dq, 2000);
    const base = await depthCost(dq);
    const rows: string[] = [`depth 0: ${base.toFixed(3)} ms`];
    let waiting = 0;
    for (const depth of [10_000, 50_000, 100_000]) {
      await fill(dq, depth + 2000 - waiting);
      const cost = await depthCost(dq);
      waiting = depth;
      rows.push(`depth ${fmt(depth)}: ${cost.toFixed(3)} ms (x${(cost / base).toFixed(2)})`);
    }
    await deep.close();
    console.log(`  per message: ${rows.join("; ")}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await pg.destroy();
  }
}

if (process.env.PMS_QUEUE_BENCH_WORKER === "1") {
  worker().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
