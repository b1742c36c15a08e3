import { expect } from "chai";
import Database from "better-sqlite3";
import { mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openSqliteStore, type SqliteMessageStore, type SqliteStoreOptions } from "../../../lib/store/sqlite";
import type { QueueOptions } from "../../../lib/store/types";

/**
 * The SQLite message store's rules that store.spec leaves unstated: what the durable-queue and
 * queue-done nodes, the admin API and an operator observe of it. Real files, one per test.
 */

const OPTIONS: QueueOptions = { maxAttempts: 3, maxAgeMs: 3600_000, dedupeWindowMs: 60_000 };

type Coded = Error & { code?: string; details?: unknown };

/** The rejection of `p`, or a failure when it settles otherwise or not within `ms`. */
async function rejection(p: Promise<unknown>, ms = 2000): Promise<Coded> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not settled within ${ms} ms`)), ms);
  });
  try {
    const value = await Promise.race([p, late]).then(
      (v) => ({ ok: true as const, v }),
      (e: unknown) => ({ ok: false as const, e }),
    );
    if (value.ok) throw new Error(`expected a rejection, got ${JSON.stringify(value.v)}`);
    if ((value.e as Error).message === `not settled within ${ms} ms`) throw value.e;
    return value.e as Coded;
  } finally {
    clearTimeout(timer);
  }
}

/** `p`'s value, or a failure when it does not settle within `ms`. */
async function within<T>(p: Promise<T>, ms = 2000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not settled within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe("lib/store SQLite message store: its rules", function () {
  let dir: string;
  let file: string;
  let clock: number;
  const stores: SqliteMessageStore[] = [];
  const others: Database.Database[] = [];

  function open(extra: Partial<SqliteStoreOptions> = {}): SqliteMessageStore {
    const store = openSqliteStore({ file, now: () => clock, purgeIntervalMs: 0, ...extra });
    stores.push(store);
    return store;
  }

  /** Another connection to the file, as an operator's sqlite3 shell or a second process. */
  function other(): Database.Database {
    const db = new Database(file);
    others.push(db);
    return db;
  }

  async function reopen(store: SqliteMessageStore, extra: Partial<SqliteStoreOptions> = {}) {
    await store.close();
    return open(extra);
  }

  function row(id: number): Record<string, unknown> | undefined {
    const reader = new Database(file, { readonly: true });
    try {
      return reader
        .prepare("SELECT state, attempt, next_at, error_code, error_message FROM messages WHERE id = ?")
        .get(id) as Record<string, unknown> | undefined;
    } finally {
      reader.close();
    }
  }

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "pms-ehr-store-rules-"));
    file = join(dir, "queue.db");
    clock = 1_000_000;
  });

  afterEach(async () => {
    for (const db of others.splice(0)) if (db.open) db.close();
    for (const s of stores.splice(0)) await s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  describe("opening the file", () => {
    it("creates the file's directory when it does not exist", async () => {
      file = join(dir, "nested", "deeper", "queue.db");
      const store = open();
      await store.openQueue("q", OPTIONS).enqueue({ msg: { payload: 1 } });
      expect(statSync(file).isFile()).to.equal(true);
    });

    it("refuses a path it cannot open with QUEUE_STORE naming the file and the driver's code", () => {
      mkdirSync(file);
      let caught: Coded | undefined;
      try {
        open();
      } catch (err) {
        caught = err as Coded;
      }
      expect(caught?.code).to.equal("QUEUE_STORE");
      expect(caught?.message).to.equal(`message store: opening ${file} failed: unable to open database file`);
      expect(caught?.details).to.deep.equal({ sqlite: "SQLITE_CANTOPEN" });
    });

    it("records the schema version in a new file and refuses a file of a newer schema, naming it", async () => {
      await open().close();
      const db = other();
      expect(db.prepare("SELECT value FROM meta WHERE name = 'schema'").get()).to.deep.equal({ value: 1 });
      db.prepare("UPDATE meta SET value = 2 WHERE name = 'schema'").run();
      db.close();
      let caught: Coded | undefined;
      try {
        open();
      } catch (err) {
        caught = err as Coded;
      }
      expect(caught?.code).to.equal("QUEUE_STORE");
      expect(caught?.message).to.equal(
        "the message store file was written by a newer version of the pack (schema 2)",
      );
    });

    it("commits with synchronous FULL when asked (power loss), NORMAL otherwise", () => {
      const pragma = (s: SqliteMessageStore, name: string) =>
        (s as unknown as { db: Database.Database }).db.pragma(name, { simple: true });
      expect(pragma(open({ synchronous: "full" }), "synchronous")).to.equal(2);
      expect(pragma(open({ synchronous: "normal" }), "synchronous")).to.equal(1);
      expect(pragma(open(), "synchronous")).to.equal(1);
    });

    it("waits busyTimeoutMs (default 200 ms, never below 0) for another process's lock", () => {
      const pragma = (s: SqliteMessageStore) =>
        (s as unknown as { db: Database.Database }).db.pragma("busy_timeout", { simple: true });
      expect(pragma(open())).to.equal(200);
      expect(pragma(open({ busyTimeoutMs: 50.7 }))).to.equal(50);
      expect(pragma(open({ busyTimeoutMs: -5 }))).to.equal(0);
    });

    it("says whether it seals payloads", () => {
      expect(open().encrypted).to.equal(false);
    });
  });

  describe("group commit", () => {
    it("one write's own failure (a constraint, a type mismatch, a value too big, a non-SQLite error) fails only that write", async () => {
      const store = open();
      const q = store.openQueue("q", OPTIONS);
      const failing = (code: string | undefined) => () => {
        throw Object.assign(new Error(`op ${code}`), code === undefined ? {} : { code });
      };
      const codes = ["SQLITE_MISMATCH", "SQLITE_TOOBIG", "QUEUE_BAD_INPUT", undefined];
      for (const code of codes) {
        const runs: string[] = [];
        const good = store.write(() => {
          runs.push("good");
          return 42;
        });
        const bad = store.write(failing(code));
        const stored = q.enqueue({ msg: { payload: String(code) } });
        const err = await rejection(bad);
        expect(err.code, String(code)).to.equal("QUEUE_STORE");
        expect(err.message).to.equal(`message store: writing failed: op ${code}`);
        expect(await within(good), String(code)).to.equal(42);
        expect(runs, "run again alone after the batch failed").to.deep.equal(["good", "good"]);
        expect((await within(stored)).duplicate).to.equal(false);
      }
      // A real constraint: a message without a queue name.
      const constraint = store.write(() => store.stmt.insert.run(null, null, 1, 1, Buffer.from([0])));
      const beside = q.enqueue({ msg: { payload: "beside" } });
      const err = await rejection(constraint);
      expect(err.message).to.match(/^message store: writing failed: NOT NULL constraint failed/);
      expect(err.details).to.deep.equal({ sqlite: "SQLITE_CONSTRAINT_NOTNULL" });
      await within(beside);
      expect(q.stats().depth).to.equal(codes.length + 1);
    });

    it("a write that fails with undefined fails alone, as QUEUE_STORE", async () => {
      const store = open();
      const good = store.write(() => "ok");
      const bad = store.write(() => {
        throw undefined;
      });
      const err = await rejection(bad);
      expect(err.code).to.equal("QUEUE_STORE");
      expect(err.message).to.equal("message store: writing failed: undefined");
      expect(await within(good)).to.equal("ok");
    });

    it("a failure of the file (busy, full, read-only) fails every write of the commit alike, each run once", async () => {
      const store = open();
      for (const code of ["SQLITE_BUSY", "SQLITE_FULL", "SQLITE_IOERR_WRITE"]) {
        const runs: string[] = [];
        const good = store.write(() => {
          runs.push("good");
          return 1;
        });
        const bad = store.write(() => {
          throw Object.assign(new Error("the file said no"), { code });
        });
        const [e1, e2] = await Promise.all([rejection(good), rejection(bad)]);
        expect(e1, code).to.equal(e2);
        expect(e1.code).to.equal("QUEUE_STORE");
        expect(e1.message).to.equal("message store: writing failed: the file said no");
        expect(e1.details).to.deep.equal({ sqlite: code });
        expect(runs, "not run again alone").to.deep.equal(["good"]);
      }
    });

    it("an enqueue commits on the next turn of the event loop, not after a timer", async () => {
      const store = open();
      const q = store.openQueue("q", OPTIONS);
      let settled = false;
      const done = q.enqueue({ msg: { payload: 1 } }).then(() => (settled = true));
      await tick();
      expect(settled).to.equal(true);
      await done;
    });

    it("a claim's attempt count waits for the next commit to share (an enqueue soon after)", async () => {
      const store = open();
      const q = store.openQueue("q", OPTIONS);
      const { id } = await q.enqueue({ msg: { payload: 1 } });
      // From a timer callback on, an immediate runs before any timer set meanwhile can.
      await sleep(1);
      const before = store.commits;
      expect(await q.claim(1, 60_000)).to.have.length(1);
      await tick();
      expect(store.commits - before, "not yet committed").to.equal(0);
      expect(row(id)).to.include({ state: 0, attempt: 0 });
      await q.enqueue({ msg: { payload: 2 } });
      expect(store.commits - before, "one commit for both").to.equal(1);
      expect(row(id)).to.include({ state: 1, attempt: 1 });
    });

    it("a claim's attempt count commits by itself within a few ms when nothing else is written", async () => {
      let store = open();
      const { id } = await store.openQueue("q", OPTIONS).enqueue({ msg: { payload: 1 } });
      // A new store whose first write is the claim's.
      store = await reopen(store);
      const q = store.openQueue("q", OPTIONS);
      await q.claim(1, 60_000);
      let n = 0;
      while (row(id)?.attempt !== 1 && n++ < 50) await sleep(5);
      expect(row(id)).to.include({ state: 1, attempt: 1 });
    });

    it("a lazy write is not put off by later lazy writes of other queues", async () => {
      const store = open();
      const names = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"];
      const queues = names.map((name) => store.openQueue(name, OPTIONS));
      for (const q of queues) await q.enqueue({ msg: { payload: q.name } });
      // Read at 16 ms, while the other queues' claims still come every 2 ms.
      let checked = false;
      const check = sleep(16).then(() => {
        checked = true;
        return row(1);
      });
      await queues[0].claim(1, 60_000);
      for (const q of queues.slice(1)) {
        await sleep(2);
        if (checked) break;
        await q.claim(1, 60_000);
      }
      expect(await check).to.include({ state: 1, attempt: 1 });
    });

    it("a read that commits the writes asked for makes no second, empty commit after them", async () => {
      const store = open();
      const before = store.commits;
      const written = store.setState("g", "k", 1);
      expect(await store.getState("g", "k")).to.equal(1);
      await written;
      await tick();
      await sleep(10);
      expect(store.commits - before).to.equal(1);
    });
  });

  describe("a closed store", () => {
    it("refuses writes, reads and opening a queue with QUEUE_STORE 'message store is closed'", async () => {
      const store = open();
      await store.close();
      for (const attempt of [store.setState("g", "k", 1), store.getState("g", "k"), store.listQueues()]) {
        const err = await rejection(attempt);
        expect(err.code).to.equal("QUEUE_STORE");
        expect(err.message).to.equal("message store is closed");
      }
      let caught: Coded | undefined;
      try {
        store.openQueue("q", OPTIONS);
      } catch (err) {
        caught = err as Coded;
      }
      expect(caught?.code).to.equal("QUEUE_STORE");
      expect(caught?.message).to.equal("message store is closed");
      await store.close();
    });

    it("a done that arrives after the store closed is refused with QUEUE_STORE, not left waiting", async () => {
      const store = open();
      const q = store.openQueue("q", OPTIONS);
      const { id } = await q.enqueue({ msg: { payload: 1 } });
      const [d] = await q.claim(1, 60_000);
      await store.read("q", id); // the claim's count is committed
      await store.close();
      const err = await rejection(q.complete(d.id, d.attempt));
      expect(err.code).to.equal("QUEUE_STORE");
      expect(err.message).to.equal("message store is closed");
      expect(q.stats().deliveredTotal).to.equal(0);
    });

    it("closing detaches its queues: a handle held on hands nothing out", async () => {
      const store = open();
      const q = store.openQueue("q", OPTIONS);
      await q.enqueue({ msg: { payload: 1 } });
      await store.close();
      expect(await q.claim(10, 1000)).to.deep.equal([]);
    });

    it("closing checkpoints the WAL into the file, even while another connection keeps the file open", async () => {
      const store = open();
      const q = store.openQueue("q", OPTIONS);
      for (let i = 0; i < 20; i++) await q.enqueue({ msg: { payload: "x".repeat(1000) } });
      const reader = other();
      reader.prepare("SELECT COUNT(*) FROM messages").get();
      await store.close();
      expect(statSync(`${file}-wal`).size).to.equal(0);
    });
  });

  describe("a queue's name", () => {
    it("is held by one handle: a second open names the queue in its QUEUE_CONFIG", () => {
      const store = open();
      store.openQueue("orders", OPTIONS);
      let caught: Coded | undefined;
      try {
        store.openQueue("orders", OPTIONS);
      } catch (err) {
        caught = err as Coded;
      }
      expect(caught?.code).to.equal("QUEUE_CONFIG");
      expect(caught?.message).to.equal(
        'queue "orders" is already opened by another durable-queue node on this store',
      );
    });

    it("a handle detached twice does not free the name its successor holds", () => {
      const store = open();
      const first = store.openQueue("q", OPTIONS);
      first.detach();
      store.openQueue("q", OPTIONS);
      first.detach();
      expect(() => store.openQueue("q", OPTIONS))
        .to.throw()
        .with.property("code", "QUEUE_CONFIG");
    });
  });

  describe("recovery after reopening the file", () => {
    it("an interrupted delivery is waiting again in the file, its attempt counted", async () => {
      let store = open();
      let q = store.openQueue("q", OPTIONS);
      const { id } = await q.enqueue({ msg: { payload: 1 } });
      await q.claim(1, 60_000);
      await store.read("q", id); // commits the claim
      expect(row(id)).to.include({ state: 1, attempt: 1 });
      q.detach();
      store = await reopen(store);
      q = store.openQueue("q", OPTIONS);
      expect(await store.read("q", id)).to.include({ state: "waiting", attempts: 1 });
      expect(q.nextDueInMs()).to.equal(0);
      const [again] = await q.claim(1, 60_000);
      expect(again.attempt).to.equal(2);
    });

    it("a retry keeps its time across restarts; an interrupted delivery is due from the restart, after a retry already due", async () => {
      let store = open();
      let q = store.openQueue("q", OPTIONS);
      const a = await q.enqueue({ msg: { payload: "a" } });
      clock += 10;
      const b = await q.enqueue({ msg: { payload: "b" } });
      const [da, db] = await q.claim(2, 60_000);
      expect([da.id, db.id]).to.deep.equal([a.id, b.id]);
      await q.fail(da.id, da.attempt, { code: "X", message: "x" }, () => ({ retryAt: clock + 60_000 }));
      await store.read("q", a.id);
      q.detach();
      for (let i = 0; i < 2; i++) {
        store = await reopen(store);
        q = store.openQueue("q", OPTIONS);
        expect(q.nextDueInMs(), `open ${i + 1}`).to.equal(0);
        q.detach();
      }
      // b is due from the restart; a waits for its retry.
      store = await reopen(store);
      q = store.openQueue("q", OPTIONS);
      expect((await q.claim(2, 60_000)).map((d) => d.id)).to.deep.equal([b.id]);
      expect(q.nextDueInMs()).to.be.above(59_000);
      q.detach();
      // Both due: a's retry (due at its time) goes before b, interrupted again and due from this restart.
      clock += 120_000;
      store = await reopen(store);
      q = store.openQueue("q", OPTIONS);
      expect((await q.claim(1, 60_000)).map((d) => d.id)).to.deep.equal([a.id]);
    });

    it("a retry's time and failure are in the file: a restart does not deliver it early", async () => {
      let store = open();
      let q = store.openQueue("q", OPTIONS);
      const { id } = await q.enqueue({ msg: { payload: 1 } });
      const [d] = await q.claim(1, 60_000);
      const outcome = await q.fail(
        d.id,
        d.attempt,
        { code: "FHIR_HTTP_503", message: "m".repeat(600) },
        () => ({
          retryAt: clock + 60_000,
        }),
      );
      expect(outcome).to.deep.equal({ outcome: "retry", retryAt: clock + 60_000 });
      const r = row(id)!;
      expect(r).to.include({ state: 0, next_at: clock + 60_000, error_code: "FHIR_HTTP_503" });
      expect(r.error_message).to.equal("m".repeat(500));
      q.detach();
      store = await reopen(store);
      q = store.openQueue("q", OPTIONS);
      expect(q.nextDueInMs()).to.equal(60_000);
      expect(await q.claim(1, 60_000)).to.deep.equal([]);
    });

    it("a row gone from the file is dropped from the queue, neither delivered nor crashing the claim", async () => {
      let store = open();
      let q = store.openQueue("q", OPTIONS);
      const gone = await q.enqueue({ msg: { payload: "gone" } });
      await q.enqueue({ msg: { payload: "kept" } });
      q.detach();
      store = await reopen(store);
      q = store.openQueue("q", OPTIONS);
      other().prepare("DELETE FROM messages WHERE id = ?").run(gone.id);
      expect((await q.claim(10, 60_000)).map((d) => d.msg.payload)).to.deep.equal(["kept"]);
      expect(q.stats()).to.include({ depth: 1, deadLetters: 0 });
      expect(await store.deadLetters("q"), "not a dead letter").to.deep.equal([]);
    });

    it("an unreadable row becomes a dead letter with its decoder's code, QUEUE_CORRUPT when it has none", async () => {
      let store = open();
      let q = store.openQueue("q", OPTIONS);
      const a = await q.enqueue({ msg: { payload: "a" } });
      const b = await q.enqueue({ msg: { payload: "b" } });
      const c = await q.enqueue({ msg: { payload: "c" } });
      q.detach();
      store = await reopen(store);
      q = store.openQueue("q", OPTIONS);
      const db = other();
      db.prepare("UPDATE messages SET body = ? WHERE id = ?").run(Buffer.from([7, 1, 2]), a.id);
      db.prepare("UPDATE messages SET body = ? WHERE id = ?").run(Buffer.from("\0{not json"), b.id);
      expect((await q.claim(10, 60_000)).map((d) => d.id)).to.deep.equal([c.id]);
      const letters = await store.deadLetters("q");
      expect(letters.map((l) => [l.id, l.code, l.attempts])).to.deep.equal([
        [a.id, "QUEUE_CORRUPT", 1],
        [b.id, "QUEUE_CORRUPT", 1],
      ]);
      expect(letters[0].message).to.equal("stored message has unknown format 7");
      expect(letters[1].message).to.match(/JSON/);
    });
  });

  describe("the queue's listing", () => {
    it("lists queues by name, open or not", async () => {
      let store = open();
      await store.openQueue("b", OPTIONS).enqueue({ msg: { payload: 1 } });
      store = await reopen(store);
      store.openQueue("a", OPTIONS);
      expect((await store.listQueues()).map((s) => s.queue)).to.deep.equal(["a", "b"]);
    });

    it("lists a queue that is not open with its in-flight rows as the file holds them, and age 0 with none waiting", async () => {
      const store = open();
      const q = store.openQueue("q", OPTIONS);
      await q.enqueue({ msg: { payload: 1 } });
      await q.enqueue({ msg: { payload: 2 } });
      clock += 500;
      const ds = await q.claim(2, 60_000);
      q.detach();
      clock += 500;
      expect(await store.listQueues()).to.deep.equal([
        {
          queue: "q",
          depth: 2,
          inFlight: 2,
          oldestAgeMs: 1000,
          deadLetters: 0,
          deliveredTotal: 0,
          deadTotal: 0,
        },
      ]);
      const again = store.openQueue("q", OPTIONS);
      for (const d of await again.claim(2, 60_000)) {
        await again.fail(d.id, d.attempt, { code: "X", message: "x" }, () => ({ dead: "permanent" }));
      }
      again.detach();
      expect(ds).to.have.length(2);
      expect(await store.listQueues()).to.deep.equal([
        {
          queue: "q",
          depth: 0,
          inFlight: 0,
          oldestAgeMs: 0,
          deadLetters: 2,
          deliveredTotal: 0,
          deadTotal: 2,
        },
      ]);
    });

    it("an open queue's stats: its oldest message's age, 0 when empty, and what it holds in flight", async () => {
      const store = open();
      const q = store.openQueue("q", OPTIONS);
      expect(q.stats().oldestAgeMs).to.equal(0);
      await q.enqueue({ msg: { payload: 1 } });
      clock += 2500;
      await q.enqueue({ msg: { payload: 2 } });
      expect(q.stats().oldestAgeMs).to.equal(2500);
      expect(q.inFlight()).to.equal(0);
      await q.claim(1, 60_000);
      expect(q.inFlight()).to.equal(1);
      expect(q.stats()).to.include({ depth: 2, inFlight: 1, oldestAgeMs: 2500 });
    });
  });

  describe("dead letters for an operator", () => {
    async function deadLetters(store: SqliteMessageStore) {
      const q = store.openQueue("q", OPTIONS);
      const specs = [
        { key: "k1", code: "A" },
        { key: "k2", code: "B" },
        { key: "k1", code: "B" },
      ];
      const ids: number[] = [];
      for (const s of specs) {
        ids.push((await q.enqueue({ msg: { payload: s.code }, key: s.key })).id);
        const [d] = await q.claim(10, 60_000);
        await q.fail(d.id, d.attempt, { code: s.code, message: "m" }, () => ({ dead: "permanent" }));
        clock += 1000;
      }
      return { q, ids };
    }

    it("selects by ids (whole numbers only), key, died-from and died-before; every given field must match", async () => {
      const store = open();
      const { ids } = await deadLetters(store);
      const sel = async (f: object) => (await store.deadLetters("q", f)).map((l) => l.id);
      expect(await sel({ ids: [ids[0], ids[2]] })).to.deep.equal([ids[0], ids[2]]);
      expect(await sel({ ids: [] })).to.deep.equal([]);
      expect(await sel({ ids: [ids[1] + 0.5, Number.NaN, ids[1]] })).to.deep.equal([ids[1]]);
      expect(await sel({ ids: [String(ids[0])] }), "a text id selects nothing").to.deep.equal([]);
      expect(await sel({ key: "k1" })).to.deep.equal([ids[0], ids[2]]);
      expect(await sel({ key: "k1", code: "B" })).to.deep.equal([ids[2]]);
      expect(await sel({ from: 1_001_000 })).to.deep.equal([ids[1], ids[2]]);
      expect(await sel({ to: 1_001_000 })).to.deep.equal([ids[0]]);
      expect(await sel({ from: 1_001_000, to: 1_002_000 })).to.deep.equal([ids[1]]);
      expect(await sel({ limit: 1 })).to.deep.equal([ids[0]]);
      expect(await sel({ limit: 0 }), "at least one").to.deep.equal([ids[0]]);
      expect(await sel({})).to.deep.equal(ids);
    });

    it("replays and discards the dead letters of a queue that is not open; its next holder delivers them", async () => {
      const store = open();
      const { q, ids } = await deadLetters(store);
      q.detach();
      expect(await store.replay("q", { ids: [ids[0]] })).to.equal(1);
      expect(await store.discard("q", { ids: [ids[1]] })).to.equal(1);
      const next = store.openQueue("q", OPTIONS);
      expect((await next.claim(10, 60_000)).map((d) => [d.id, d.attempt])).to.deep.equal([[ids[0], 1]]);
      expect(next.stats().deadLetters).to.equal(1);
    });

    it("discarding some of an open queue's dead letters leaves the others counted", async () => {
      const store = open();
      const { q, ids } = await deadLetters(store);
      expect(await store.discard("q", { ids: [ids[0]] })).to.equal(1);
      expect(q.stats().deadLetters).to.equal(2);
    });

    it("wakes the queue's node when a replay brings messages back, not when it finds none", async () => {
      const store = open();
      const { q, ids } = await deadLetters(store);
      let woken = 0;
      q.onReady(() => woken++);
      expect(await store.replay("q", { code: "nothing" })).to.equal(0);
      expect(woken).to.equal(0);
      expect(await store.replay("q", { ids: [ids[0]] })).to.equal(1);
      expect(woken).to.equal(1);
    });
  });

  describe("a queue's handle", () => {
    it("calls its ready listeners when a message arrives, until they unsubscribe", async () => {
      const store = open();
      const q = store.openQueue("q", OPTIONS);
      let calls = 0;
      const off = q.onReady(() => calls++);
      await q.enqueue({ msg: { payload: 1 } });
      expect(calls).to.equal(1);
      off();
      await q.enqueue({ msg: { payload: 2 } });
      expect(calls).to.equal(1);
    });

    it("a detached handle hands nothing out and holds nothing of a later enqueue; the next holder gets it", async () => {
      const store = open();
      const q = store.openQueue("q", OPTIONS);
      q.detach();
      await q.enqueue({ msg: { payload: "late" } });
      expect(await q.claim(10, 60_000)).to.deep.equal([]);
      expect(q.stats().depth).to.equal(0);
      const next = store.openQueue("q", OPTIONS);
      expect((await next.claim(10, 60_000)).map((d) => d.msg.payload)).to.deep.equal(["late"]);
    });

    it("a claim of 0 or fewer hands nothing out and writes nothing, even with a lease run out", async () => {
      const store = open();
      const q = store.openQueue("q", OPTIONS);
      const { id } = await q.enqueue({ msg: { payload: 1 } });
      await q.claim(1, 1000);
      await store.read("q", id);
      clock += 5000;
      let woken = 0;
      q.onReady(() => woken++);
      const before = store.commits;
      expect(await q.claim(0, 1000)).to.deep.equal([]);
      expect(await q.claim(-1, 1000)).to.deep.equal([]);
      await sleep(15);
      expect(store.commits).to.equal(before);
      expect(woken).to.equal(0);
      expect(q.inFlight()).to.equal(1);
    });

    it("a claim that finds nothing due, with no lease run out, writes nothing and wakes nobody", async () => {
      const store = open();
      const q = store.openQueue("q", OPTIONS);
      let woken = 0;
      q.onReady(() => woken++);
      const before = store.commits;
      expect(await q.claim(5, 1000)).to.deep.equal([]);
      expect(q.nextDueInMs()).to.equal(undefined);
      await sleep(15);
      expect(store.commits).to.equal(before);
      expect(woken).to.equal(0);
    });

    it("a lease run out puts the message back to waiting in the file and wakes the node", async () => {
      const store = open();
      const q = store.openQueue("q", OPTIONS);
      const { id } = await q.enqueue({ msg: { payload: 1 } });
      await q.claim(1, 1000);
      expect(await store.read("q", id)).to.include({ state: "in-flight" });
      let woken = 0;
      q.onReady(() => woken++);
      clock += 1000;
      expect(q.nextDueInMs()).to.equal(0);
      expect(woken).to.equal(1);
      expect(await store.read("q", id)).to.include({ state: "waiting", attempts: 1 });
    });

    it("releaseAll gives every in-flight delivery back, in the file too; with none in flight it writes nothing", async () => {
      const store = open();
      const q = store.openQueue("q", OPTIONS);
      let woken = 0;
      q.onReady(() => woken++);
      const before = store.commits;
      await q.releaseAll();
      expect(store.commits).to.equal(before);
      expect(woken).to.equal(0);
      const a = await q.enqueue({ msg: { payload: "a" } });
      const b = await q.enqueue({ msg: { payload: "b" } });
      await q.claim(2, 60_000);
      await store.read("q", a.id);
      woken = 0;
      await q.releaseAll();
      expect(woken).to.equal(1);
      expect(q.inFlight()).to.equal(0);
      expect(await store.read("q", a.id)).to.include({ state: "waiting" });
      expect(await store.read("q", b.id)).to.include({ state: "waiting" });
      expect((await q.claim(2, 60_000)).map((d) => d.attempt)).to.deep.equal([2, 2]);
    });

    it("a done or a failure for a message it does not hold is stale", async () => {
      const store = open();
      const q = store.openQueue("q", OPTIONS);
      expect(await q.complete(999, 1)).to.equal(false);
      expect(await q.fail(999, 1, { code: "X", message: "x" }, () => ({ dead: "permanent" }))).to.deep.equal({
        outcome: "stale",
      });
    });

    it("a done or a failure after the lease ran out, before the message is handed out again, is stale", async () => {
      const store = open();
      const q = store.openQueue("q", OPTIONS);
      await q.enqueue({ msg: { payload: 1 } });
      const [d] = await q.claim(1, 1000);
      clock += 1000;
      expect(q.nextDueInMs()).to.equal(0);
      expect(await q.complete(d.id, d.attempt)).to.equal(false);
      expect(
        await q.fail(d.id, d.attempt, { code: "X", message: "x" }, () => ({ dead: "permanent" })),
      ).to.deep.equal({ outcome: "stale" });
      expect(q.stats()).to.include({ depth: 1, deliveredTotal: 0, deadLetters: 0 });
      const [again] = await q.claim(1, 1000);
      expect(again.attempt).to.equal(2);
    });

    it("a done whose commit fails is not counted, and the message is delivered again", async () => {
      const store = open({ busyTimeoutMs: 20 });
      const q = store.openQueue("q", OPTIONS);
      const { id } = await q.enqueue({ msg: { payload: 1 } });
      const [d] = await q.claim(1, 60_000);
      await store.read("q", id);
      const locker = other();
      locker.exec("BEGIN EXCLUSIVE");
      const err = await rejection(q.complete(d.id, d.attempt));
      locker.exec("ROLLBACK");
      expect(err.code).to.equal("QUEUE_STORE");
      expect(q.stats()).to.include({ deliveredTotal: 0, depth: 1, inFlight: 0 });
      const [again] = await q.claim(1, 60_000);
      expect([again.id, again.attempt]).to.deep.equal([id, 2]);
      expect(await q.complete(again.id, again.attempt)).to.equal(true);
      expect(q.stats().deliveredTotal).to.equal(1);
    });
  });

  describe("dedupe", () => {
    it("a repeat at the very end of the window is a new message", async () => {
      const store = open();
      const q = store.openQueue("q", OPTIONS);
      await q.enqueue({ msg: { payload: 1 }, dedupe: "evt" });
      clock += OPTIONS.dedupeWindowMs;
      expect((await q.enqueue({ msg: { payload: 1 }, dedupe: "evt" })).duplicate).to.equal(false);
    });

    it("retention forgets only the dedupe ids past their window", async () => {
      const store = open();
      const q = store.openQueue("q", OPTIONS);
      const first = await q.enqueue({ msg: { payload: 1 }, dedupe: "old" });
      clock += 30_000;
      await q.enqueue({ msg: { payload: 2 }, dedupe: "young" });
      clock += 1000;
      expect((await store.purge()).dedupe).to.equal(0);
      expect(await q.enqueue({ msg: { payload: 1 }, dedupe: "old" })).to.include({
        id: first.id,
        duplicate: true,
      });
      clock += 30_000;
      expect((await store.purge()).dedupe).to.equal(1);
      expect((await q.enqueue({ msg: { payload: 2 }, dedupe: "young" })).duplicate).to.equal(true);
    });

    it("a copy that waited on a first copy that failed to commit is stored in its place", async () => {
      const store = open({ busyTimeoutMs: 20 });
      const q = store.openQueue("q", OPTIONS);
      const locker = other();
      locker.exec("BEGIN EXCLUSIVE");
      const first = q.enqueue({ msg: { payload: "a" }, dedupe: "evt" });
      const second = q.enqueue({ msg: { payload: "a" }, dedupe: "evt" });
      const failed = first.then(
        () => undefined,
        (e: unknown) => {
          locker.exec("ROLLBACK");
          return e as Coded;
        },
      );
      expect((await within(failed))?.code).to.equal("QUEUE_STORE");
      const stored = await within(second);
      expect(stored.duplicate).to.equal(false);
      expect((await q.claim(5, 60_000)).map((d) => d.id)).to.deep.equal([stored.id]);
    });
  });

  describe("retention", () => {
    it("runs by itself every purgeIntervalMs", async () => {
      const store = open({ keepDeliveredMs: 1000, purgeIntervalMs: 10 });
      const q = store.openQueue("q", OPTIONS);
      const { id } = await q.enqueue({ msg: { payload: 1 } });
      const [d] = await q.claim(1, 60_000);
      await q.complete(d.id, d.attempt);
      clock += 1001;
      let n = 0;
      while (row(id) !== undefined && n++ < 100) await sleep(5);
      expect(row(id)).to.equal(undefined);
    });

    it("with purgeIntervalMs 0 runs only when purge() is called", async () => {
      const store = open({ keepDeliveredMs: 1000, purgeIntervalMs: 0 });
      const q = store.openQueue("q", OPTIONS);
      const { id } = await q.enqueue({ msg: { payload: 1 } });
      const [d] = await q.claim(1, 60_000);
      await q.complete(d.id, d.attempt);
      clock += 1001;
      await sleep(30);
      expect(row(id)).to.include({ state: 3 });
      expect((await store.purge()).delivered).to.equal(1);
    });
  });

  describe("node state", () => {
    it("a key that cannot be looked up fails the read with QUEUE_STORE 'reading state failed'", async () => {
      const store = open();
      const err = await rejection(store.getState("g", {} as unknown as string));
      expect(err.code).to.equal("QUEUE_STORE");
      expect(err.message).to.equal(
        "message store: reading state failed: Too few parameter values were provided",
      );
    });

    it("a file that cannot be read fails the read with QUEUE_STORE and the driver's code", async () => {
      const store = open();
      await store.setState("g", "k", 1);
      other().exec("DROP TABLE state");
      const err = await rejection(store.getState("g", "k"));
      expect(err.code).to.equal("QUEUE_STORE");
      expect(err.message).to.equal("message store: reading state failed: no such table: state");
      expect(err.details).to.deep.equal({ sqlite: "SQLITE_ERROR" });
    });

    it("a compare-and-set of a value JSON cannot hold is refused and leaves the value as it was", async () => {
      const store = open();
      await store.setState("g", "k", "kept");
      const { version } = (await store.getStateVersioned("g", "k"))!;
      const loop: Record<string, unknown> = {};
      loop.self = loop;
      const err = await rejection(store.setStateIf("g", "k", version, loop));
      expect(err.code).to.equal("QUEUE_BAD_INPUT");
      expect(await store.getState("g", "k")).to.equal("kept");
    });

    it("a seen-ids add of a value JSON cannot hold names all its keys", async () => {
      const store = open();
      const loop: Record<string, unknown> = {};
      loop.self = loop;
      const err = await rejection(store.addStateIfAbsent("s", ["id:a", "ts:1"], loop, clock + 1000));
      expect(err.code).to.equal("QUEUE_BAD_INPUT");
      expect(err.message).to.match(/^state id:a, ts:1: not storable as JSON/);
    });

    it("lists the scopes holding live state, with their key counts and last change, and a scope's entries by key", async () => {
      const store = open();
      await store.setState("node:b", "z", { n: 1 });
      clock += 10;
      await store.setState("node:b", "a", [2], clock + 1000);
      await store.setState("node:a", "only", "x");
      await store.setState("node:c", "gone", 1, clock + 5);
      clock += 5;
      expect(await store.stateScopes()).to.deep.equal([
        { scope: "node:a", keys: 1, updatedAt: 1_000_010 },
        { scope: "node:b", keys: 2, updatedAt: 1_000_010 },
      ]);
      expect(await store.stateEntries("node:b", 10)).to.deep.equal([
        { key: "a", value: [2], updatedAt: 1_000_010, expiresAt: 1_001_010 },
        { key: "z", value: { n: 1 }, updatedAt: 1_000_000, expiresAt: null },
      ]);
      expect((await store.stateEntries("node:b", 1)).map((e) => e.key)).to.deep.equal(["a"]);
      expect(await store.stateEntries("node:c", 10)).to.deep.equal([]);
    });
  });
});
