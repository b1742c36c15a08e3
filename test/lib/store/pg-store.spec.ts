import { expect } from "chai";
import type { Client } from "pg";
import { CODES } from "../../../lib/error-codes";
import { openPgStore, type PgMessageStore, type PgStoreOptions } from "../../../lib/store/postgres";
import type { Delivery, QueueHandle, QueueOptions } from "../../../lib/store/types";
import { startPostgres, type PgServer } from "../../support/pg";

const OPTIONS: QueueOptions = { maxAttempts: 3, maxAgeMs: 3600_000, dedupeWindowMs: 60_000 };

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  return p.then(
    () => undefined,
    (err: { code?: string }) => err.code,
  );
}

describe("lib/store PostgreSQL message store (a real server)", function () {
  this.timeout(120_000);
  let server: PgServer | undefined;
  let admin: Client;
  let clock: number;
  let schema: string;
  let schemas = 0;
  const stores: PgMessageStore[] = [];

  before(async function () {
    server = await startPostgres(this);
    admin = await server.connect();
  });

  after(async () => {
    await admin?.end();
    await server?.destroy();
  });

  beforeEach(() => {
    clock = 1_000_000;
    schema = `t${++schemas}`;
  });

  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close().catch(() => undefined);
  });

  /** A store on this test's schema: two of them are two instances sharing the database. */
  async function open(extra: Partial<PgStoreOptions> = {}): Promise<PgMessageStore> {
    const store = openPgStore({
      connectionString: server!.url,
      schema,
      now: () => clock,
      purgeIntervalMs: 0,
      ...extra,
    });
    stores.push(store);
    await store.ready;
    return store;
  }

  /** A new admin connection, after the server was stopped and started. */
  async function reconnectAdmin(): Promise<void> {
    await admin.end().catch(() => undefined);
    admin = await server!.connect();
  }

  /** Rows as another connection sees them, in this test's schema. */
  async function rows(sql: string): Promise<Array<Record<string, unknown>>> {
    await admin.query(`SET search_path TO ${schema}`);
    return (await admin.query(sql)).rows;
  }

  describe("one instance: the queue semantics of the SQLite store", () => {
    it("has committed a message when enqueue resolves: another connection reads it", async () => {
      const store = await open();
      const q = store.openQueue("q", OPTIONS);
      const r = await q.enqueue({ msg: { payload: { a: 1 }, topic: "t" }, key: "k1" });
      expect(r).to.deep.include({ enqueuedAt: clock, duplicate: false });
      expect(await rows("SELECT id::int, queue, key, state, attempt FROM messages")).to.deep.equal([
        { id: r.id, queue: "q", key: "k1", state: 0, attempt: 0 },
      ]);
    });

    it("writes enqueues that arrive together in one call (group commit)", async () => {
      const store = await open();
      const q = store.openQueue("q", OPTIONS);
      const before = store.commits;
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) => q.enqueue({ msg: { payload: i } })),
      );
      expect(store.commits - before).to.equal(1);
      expect(new Set(results.map((r) => r.id)).size).to.equal(50);
      const delivered = await q.claim(100, 60_000);
      expect(delivered.map((d) => d.msg.payload)).to.deep.equal(Array.from({ length: 50 }, (_, i) => i));
    });

    it("delivers what was stored, Buffers included, and deletes it when done", async () => {
      const store = await open();
      const q = store.openQueue("q", OPTIONS);
      await q.enqueue({ msg: { payload: Buffer.from([0, 1, 2, 255]), topic: "bin" } });
      const [d] = await q.claim(5, 60_000);
      expect(Buffer.isBuffer(d.msg.payload)).to.equal(true);
      expect([...(d.msg.payload as Buffer)]).to.deep.equal([0, 1, 2, 255]);
      expect(d).to.include({ attempt: 1, key: null });
      expect(q.inFlight()).to.equal(1);
      expect(await q.complete(d.id, d.attempt)).to.equal(true);
      expect(q.inFlight()).to.equal(0);
      expect(await rows("SELECT id FROM messages")).to.deep.equal([]);
      expect(await q.complete(d.id, d.attempt), "a second done is stale").to.equal(false);
      expect((await store.listQueues())[0]).to.include({ queue: "q", depth: 0, deliveredTotal: 1 });
    });

    it("keeps delivered messages for keepDelivered, then purges them", async () => {
      const store = await open({ keepDeliveredMs: 10_000 });
      const q = store.openQueue("q", OPTIONS);
      await q.enqueue({ msg: { payload: 1 } });
      const [d] = await q.claim(1, 60_000);
      await q.complete(d.id, d.attempt);
      expect((await store.read("q", d.id))?.state).to.equal("delivered");
      expect((await store.purge(clock + 5_000)).delivered).to.equal(0);
      expect((await store.purge(clock + 10_001)).delivered).to.equal(1);
      expect(await store.read("q", d.id)).to.equal(undefined);
    });

    it("delivers one message of a key at a time, in order, while other keys overtake a stuck one", async () => {
      const store = await open();
      const q = store.openQueue("q", OPTIONS);
      for (const [key, n] of [
        ["a", 1],
        ["a", 2],
        ["b", 3],
        ["a", 4],
        ["b", 5],
      ] as const) {
        await q.enqueue({ msg: { payload: n }, key });
      }
      await q.enqueue({ msg: { payload: 6 } });
      await q.enqueue({ msg: { payload: 7 } });
      const first = await q.claim(10, 60_000);
      expect(first.map((d) => d.msg.payload)).to.deep.equal([1, 3, 6, 7]);
      expect(await q.claim(10, 60_000)).to.deep.equal([]);
      const a1 = first[0];
      expect(
        await q.fail(a1.id, a1.attempt, { code: "FHIR_HTTP_503", message: "down" }, () => ({
          retryAt: clock + 5000,
        })),
      ).to.deep.equal({ outcome: "retry", retryAt: clock + 5000 });
      await q.complete(first[1].id, first[1].attempt);
      await q.complete(first[2].id, first[2].attempt);
      await q.complete(first[3].id, first[3].attempt);
      expect((await q.claim(10, 60_000)).map((d) => d.msg.payload)).to.deep.equal([5]);
      expect(q.nextDueInMs(), "a's retry, not its blocked backlog").to.equal(5000);
      clock += 5000;
      const again = await q.claim(10, 60_000);
      expect(again.map((d) => [d.msg.payload, d.attempt])).to.deep.equal([[1, 2]]);
      await q.complete(again[0].id, again[0].attempt);
      expect((await q.claim(10, 60_000)).map((d) => d.msg.payload)).to.deep.equal([2]);
    });

    it("makes a dead letter on a permanent failure, unblocks the key, replays behind the key's backlog and discards", async () => {
      const store = await open();
      const q = store.openQueue("q", OPTIONS);
      await q.enqueue({ msg: { payload: "poison" }, key: "k" });
      await q.enqueue({ msg: { payload: "next" }, key: "k" });
      await q.enqueue({ msg: { payload: "other" }, key: "j" });
      const [d, other] = await q.claim(10, 60_000);
      expect(
        await q.fail(d.id, d.attempt, { code: "MAP_REQUIRED", message: "gender is required" }, () => ({
          dead: "permanent",
        })),
      ).to.deep.equal({ outcome: "dead", reason: "permanent" });
      await q.fail(other.id, other.attempt, { code: "FHIR_HTTP_422", message: "bad" }, () => ({
        dead: "permanent",
      }));
      const letters = await store.deadLetters("q");
      expect(letters.map((l) => [l.id, l.key, l.code, l.message, l.attempts])).to.deep.equal([
        [d.id, "k", "MAP_REQUIRED", "gender is required", 1],
        [other.id, "j", "FHIR_HTTP_422", "bad", 1],
      ]);
      expect(await store.deadLetters("q", { code: "FHIR_HTTP_422" })).to.have.length(1);
      expect(await store.deadLetters("q", { key: "k", ids: [d.id, other.id] })).to.have.length(1);
      await store.refreshStats();
      expect(q.stats()).to.include({ deadLetters: 2, deadTotal: 2, depth: 1 });
      // "next" waits in flight as the key's head; the replayed poison goes behind it.
      const [next] = await q.claim(10, 60_000);
      expect(next.msg.payload).to.equal("next");
      expect(await store.replay("q", { code: "MAP_REQUIRED" })).to.equal(1);
      expect(await q.claim(10, 60_000), "behind next, which is in flight").to.deep.equal([]);
      await q.complete(next.id, next.attempt);
      const replayed = await q.claim(10, 60_000);
      expect(replayed.map((x) => [x.msg.payload, x.attempt])).to.deep.equal([["poison", 1]]);
      expect(await store.discard("q", { ids: [other.id] })).to.equal(1);
      expect(await store.deadLetters("q")).to.deep.equal([]);
    });

    it("answers a repeated dedupe id as a duplicate within the window, not after; two copies together: one", async () => {
      const store = await open();
      const q = store.openQueue("q", OPTIONS);
      const first = await q.enqueue({ msg: { payload: 1 }, dedupe: "evt-1" });
      const again = await q.enqueue({ msg: { payload: 1 }, dedupe: "evt-1" });
      expect(again).to.deep.equal({ id: first.id, enqueuedAt: clock, duplicate: true });
      const both = await Promise.all([
        q.enqueue({ msg: { payload: "a" }, dedupe: "evt-2" }),
        q.enqueue({ msg: { payload: "a" }, dedupe: "evt-2" }),
      ]);
      expect(both.map((r) => r.duplicate)).to.deep.equal([false, true]);
      expect(both[1].id).to.equal(both[0].id);
      clock += OPTIONS.dedupeWindowMs + 1;
      expect((await q.enqueue({ msg: { payload: 1 }, dedupe: "evt-1" })).duplicate).to.equal(false);
      expect((await store.purge()).dedupe, "evt-2 expired").to.equal(1);
      expect((await rows("SELECT count(*)::int AS n FROM messages"))[0].n).to.equal(3);
    });

    it("hands a delivery out again when its visibility runs out, and refuses the late done and fail", async () => {
      const store = await open();
      const q = store.openQueue("q", OPTIONS);
      await q.enqueue({ msg: { payload: 1 }, key: "k" });
      const [d] = await q.claim(1, 1000);
      clock += 999;
      expect(await q.claim(1, 1000)).to.deep.equal([]);
      expect(q.nextDueInMs()).to.equal(1);
      clock += 1;
      const [again] = await q.claim(1, 1000);
      expect(again.attempt).to.equal(2);
      expect(await q.complete(d.id, d.attempt)).to.equal(false);
      expect(
        await q.fail(d.id, d.attempt, { code: "X", message: "late" }, () => ({ retryAt: clock })),
      ).to.deep.equal({
        outcome: "stale",
      });
      expect(await q.complete(again.id, again.attempt)).to.equal(true);
    });

    it("after a crash, delivers again what was in flight once its lease ends, and dead-letters a message that kept crashing it", async () => {
      let store = await open();
      let q = store.openQueue("q", OPTIONS);
      await q.enqueue({ msg: { payload: "a" }, key: "k" });
      for (let crash = 1; crash <= OPTIONS.maxAttempts; crash++) {
        const ds = await q.claim(10, 60_000);
        expect(ds.map((d) => [d.msg.payload, d.attempt])).to.deep.equal([["a", crash]]);
        // A crash: nothing finished; a new store stands in for the restarted runtime.
        q.detach();
        await store.close();
        store = await open();
        q = store.openQueue("q", OPTIONS);
        expect(await q.claim(10, 60_000), "still leased to the dead instance").to.deep.equal([]);
        clock += 60_000;
      }
      expect(await q.claim(10, 60_000)).to.deep.equal([]);
      await waitFor(async () => (await store.deadLetters("q")).length === 1);
      const [letter] = await store.deadLetters("q");
      expect(letter).to.include({ code: "QUEUE_INTERRUPTED", attempts: OPTIONS.maxAttempts });
    });

    it("dead-letters a message past its maximum age instead of delivering it", async () => {
      const store = await open();
      const q = store.openQueue("q", { ...OPTIONS, maxAgeMs: 10_000 });
      await q.enqueue({ msg: { payload: 1 } });
      clock += 10_001;
      expect(await q.claim(1, 1000)).to.deep.equal([]);
      await waitFor(async () => (await store.deadLetters("q")).length === 1);
      expect((await store.deadLetters("q"))[0]).to.include({ code: "QUEUE_EXPIRED", attempts: 0 });
    });

    it("seals payloads and state with the encryptionKey, and refuses a wrong key or none with QUEUE_KEY", async () => {
      const store = await open({ encryptionKey: "correct horse battery staple" });
      expect(store.encrypted).to.equal(true);
      const q = store.openQueue("q", OPTIONS);
      await q.enqueue({ msg: { payload: { family: "Quixotefamily" } } });
      await store.setState("node:m", "dedupe", ["MSG-CONTROL-ID-4711"]);
      const stored = await rows("SELECT body AS b FROM messages UNION ALL SELECT value FROM state");
      for (const r of stored) {
        expect((r.b as Buffer).includes(Buffer.from("Quixotefamily"))).to.equal(false);
        expect((r.b as Buffer).includes(Buffer.from("MSG-CONTROL-ID-4711"))).to.equal(false);
      }
      const [d] = await q.claim(1, 1000);
      expect(d.msg.payload).to.deep.equal({ family: "Quixotefamily" });
      expect(await codeOf(open({ encryptionKey: "wrong" }))).to.equal(CODES.QUEUE_KEY);
      expect(await codeOf(open())).to.equal(CODES.QUEUE_KEY);
      const plain = await rows("SELECT count(*)::int AS n FROM meta");
      expect(plain[0].n).to.equal(2);
    });

    it("lists open queues before their first message and queues it does not hold, and one holder per name", async () => {
      const store = await open();
      store.openQueue("idle", OPTIONS);
      expect(() => store.openQueue("idle", OPTIONS))
        .to.throw()
        .with.property("code", CODES.QUEUE_CONFIG);
      expect((await store.listQueues()).map((s) => s.queue)).to.deep.equal(["idle"]);
      const other = await open();
      const elsewhere = other.openQueue("elsewhere", OPTIONS);
      await elsewhere.enqueue({ msg: { payload: 1 } });
      expect(await store.listQueues()).to.deep.equal([
        {
          queue: "elsewhere",
          depth: 1,
          inFlight: 0,
          oldestAgeMs: 0,
          deadLetters: 0,
          deliveredTotal: 0,
          deadTotal: 0,
        },
        {
          queue: "idle",
          depth: 0,
          inFlight: 0,
          oldestAgeMs: 0,
          deadLetters: 0,
          deliveredTotal: 0,
          deadTotal: 0,
        },
      ]);
    });

    it("keeps state: compare-and-set, add-if-absent, expiry, refusal of what JSON cannot hold", async () => {
      const store = await open();
      expect(await store.setStateIf("g", "cp", null, { mark: 1 })).to.equal(true);
      expect(await store.setStateIf("g", "cp", null, { mark: 9 })).to.equal(false);
      const v1 = (await store.getStateVersioned("g", "cp"))!;
      expect(v1.value).to.deep.equal({ mark: 1 });
      await store.setState("g", "cp", { mark: 2 });
      expect(await store.setStateIf("g", "cp", v1.version, { mark: 3 })).to.equal(false);
      const v2 = (await store.getStateVersioned("g", "cp"))!;
      const both = await Promise.all([
        store.setStateIf("g", "cp", v2.version, "a"),
        store.setStateIf("g", "cp", v2.version, "b"),
      ]);
      expect([...both].sort()).to.deep.equal([false, true]);
      const v3 = (await store.getStateVersioned("g", "cp"))!;
      expect(await store.setStateIf("g", "cp", null, undefined), "a live value is no absence").to.equal(
        false,
      );
      expect(await store.setStateIf("g", "cp", v3.version, undefined)).to.equal(true);
      expect(await store.getState("g", "cp")).to.equal(undefined);

      expect(await store.addStateIfAbsent("seen", ["id:a", "ts:1"], 1, clock + 5000)).to.equal(true);
      expect(await store.addStateIfAbsent("seen", ["id:b", "ts:1"], 1, clock + 5000)).to.equal(false);
      expect(await store.getState("seen", "id:b"), "nothing of a refused add").to.equal(undefined);
      const racing = await Promise.all([
        store.addStateIfAbsent("seen", ["id:c"], 1, clock + 5000),
        store.addStateIfAbsent("seen", ["id:c"], 1, clock + 5000),
      ]);
      expect([...racing].sort()).to.deep.equal([false, true]);
      clock += 5000;
      expect(await store.getState("seen", "id:a"), "expired").to.equal(undefined);
      expect(await store.addStateIfAbsent("seen", ["id:a"], 2, clock + 5000)).to.equal(true);
      expect(await store.stateScopes()).to.deep.equal([{ scope: "seen", keys: 1, updatedAt: clock }]);
      expect((await store.stateEntries("seen", 10)).map((e) => [e.key, e.value])).to.deep.equal([
        ["id:a", 2],
      ]);
      expect((await store.purge()).state, "ts:1 and id:c").to.equal(2);
      const loop: Record<string, unknown> = {};
      loop.self = loop;
      expect(await codeOf(store.setState("g", "bad", loop))).to.equal(CODES.QUEUE_BAD_INPUT);
      expect(await codeOf(store.setStateIf("g", "bad", null, loop))).to.equal(CODES.QUEUE_BAD_INPUT);
    });

    it("fails with QUEUE_STORE while the database is down, acknowledges nothing, and works again when it is back", async () => {
      const store = await open({ connectTimeoutMs: 1000 });
      const q = store.openQueue("q", OPTIONS);
      await q.enqueue({ msg: { payload: "before" } });
      await server!.stop();
      try {
        expect(await codeOf(q.enqueue({ msg: { payload: "during" } }))).to.equal(CODES.QUEUE_STORE);
        expect(await codeOf(q.claim(1, 1000))).to.equal(CODES.QUEUE_STORE);
        expect(await codeOf(store.getState("g", "k"))).to.equal(CODES.QUEUE_STORE);
      } finally {
        await server!.start();
        await reconnectAdmin();
      }
      await q.enqueue({ msg: { payload: "after" } });
      const ds = await q.claim(10, 60_000);
      expect(ds.map((d) => d.msg.payload)).to.deep.equal(["before", "after"]);
    });

    it("opens on a use after the database is back when it was away at deploy, and says so once", async () => {
      await server!.stop();
      let reopened = 0;
      const store = openPgStore({
        connectionString: server!.url,
        schema,
        now: () => clock,
        purgeIntervalMs: 0,
        connectTimeoutMs: 1000,
        onReopened: () => (reopened += 1),
      });
      stores.push(store);
      const q = store.openQueue("q", OPTIONS);
      try {
        expect(await codeOf(store.ready)).to.equal(CODES.QUEUE_STORE);
        expect(await codeOf(q.enqueue({ msg: { payload: "during" } }))).to.equal(CODES.QUEUE_STORE);
      } finally {
        await server!.start();
        await reconnectAdmin();
      }
      // A failed open is answered for a second before the next use tries again.
      await new Promise((resolve) => setTimeout(resolve, 1100));
      await q.enqueue({ msg: { payload: "after" } });
      await q.enqueue({ msg: { payload: "again" } });
      expect(reopened).to.equal(1);
      expect((await q.claim(10, 60_000)).map((d) => d.msg.payload)).to.deep.equal(["after", "again"]);
      expect(await rows("SELECT count(*)::int AS n FROM messages")).to.deep.equal([{ n: 2 }]);
    });
  });

  describe("two instances on one database", () => {
    it("hold each key's order across instances: one message of a key in flight at a time, delivered in enqueue order", async () => {
      const [a, b] = [await open(), await open()];
      const [qa, qb] = [a.openQueue("q", OPTIONS), b.openQueue("q", OPTIONS)];
      const keys = ["p1", "p2", "p3", "p4"];
      // Enqueued from both instances, one key's messages in a known order (each awaited before the next of its key).
      const expected = new Map<string, number[]>(keys.map((k) => [k, []]));
      let n = 0;
      await Promise.all(
        keys.map(async (key, i) => {
          for (let j = 0; j < 25; j++) {
            const seq = ++n;
            await (j % 2 === i % 2 ? qa : qb).enqueue({ msg: { payload: { key, seq } }, key });
            expected.get(key)!.push(seq);
          }
        }),
      );
      const got = new Map<string, number[]>(keys.map((k) => [k, []]));
      const inFlight = new Set<string>();
      let overlaps = 0;
      const by = new Map<QueueHandle, number>();
      async function worker(q: QueueHandle): Promise<void> {
        for (let idle = 0; idle < 20;) {
          const batch: Delivery[] = await q.claim(3, 60_000);
          if (batch.length === 0) {
            idle += 1;
            await new Promise((r) => setTimeout(r, 5));
            continue;
          }
          idle = 0;
          for (const d of batch) {
            const { key, seq } = d.msg.payload as { key: string; seq: number };
            if (inFlight.has(key)) overlaps += 1;
            inFlight.add(key);
            await new Promise((r) => setImmediate(r));
            got.get(key)!.push(seq);
            by.set(q, (by.get(q) ?? 0) + 1);
            inFlight.delete(key);
            expect(await q.complete(d.id, d.attempt)).to.equal(true);
          }
        }
      }
      await Promise.all([qa, qb, qa, qb].map(worker));
      expect(overlaps, "two messages of one key in flight at once").to.equal(0);
      expect(by.get(qa), "A delivered some").to.be.above(0);
      expect(by.get(qb), "B delivered some").to.be.above(0);
      for (const key of keys) expect(got.get(key), key).to.deep.equal(expected.get(key));
      expect(await rows("SELECT count(*)::int AS n FROM messages")).to.deep.equal([{ n: 0 }]);
    });

    it("takes over a dead instance's deliveries once their visibility runs out; its late done is stale", async () => {
      const [a, b] = [await open(), await open()];
      const [qa, qb] = [a.openQueue("q", OPTIONS), b.openQueue("q", OPTIONS)];
      await qa.enqueue({ msg: { payload: 1 }, key: "k" });
      await qa.enqueue({ msg: { payload: 2 }, key: "k" });
      await qa.enqueue({ msg: { payload: 3 } });
      const held = await qa.claim(10, 30_000);
      expect(held.map((d) => d.msg.payload)).to.deep.equal([1, 3]);
      expect(await qb.claim(10, 30_000), "leased to A").to.deep.equal([]);
      expect(qb.nextDueInMs()).to.equal(30_000);
      clock += 30_000;
      const taken = await qb.claim(10, 30_000);
      expect(taken.map((d) => [d.msg.payload, d.attempt])).to.deep.equal([
        [1, 2],
        [3, 2],
      ]);
      expect(await qa.complete(held[0].id, held[0].attempt), "A's lease was taken over").to.equal(false);
      for (const d of taken) expect(await qb.complete(d.id, d.attempt)).to.equal(true);
      expect((await qb.claim(10, 30_000)).map((d) => d.msg.payload)).to.deep.equal([2]);
    });

    it("gives back only its own deliveries on releaseAll", async () => {
      const [a, b] = [await open(), await open()];
      const [qa, qb] = [a.openQueue("q", OPTIONS), b.openQueue("q", OPTIONS)];
      await qa.enqueue({ msg: { payload: 1 } });
      await qa.enqueue({ msg: { payload: 2 } });
      const [mine] = await qa.claim(1, 60_000);
      const [theirs] = await qb.claim(1, 60_000);
      await qa.releaseAll();
      expect(qa.inFlight()).to.equal(0);
      const again = await qb.claim(5, 60_000);
      expect(again.map((d) => [d.id, d.attempt])).to.deep.equal([[mine.id, 2]]);
      expect(await qb.complete(theirs.id, theirs.attempt)).to.equal(true);
    });

    it("answers a dedupe id one instance stored as a duplicate on the other, even when both arrive at once", async () => {
      const [a, b] = [await open(), await open()];
      const [qa, qb] = [a.openQueue("q", OPTIONS), b.openQueue("q", OPTIONS)];
      const first = await qa.enqueue({ msg: { payload: 1 }, dedupe: "evt-9" });
      expect(await qb.enqueue({ msg: { payload: 1 }, dedupe: "evt-9" })).to.deep.include({
        id: first.id,
        duplicate: true,
      });
      for (let i = 0; i < 20; i++) {
        const both = await Promise.all([
          qa.enqueue({ msg: { payload: i }, dedupe: `race-${i}` }),
          qb.enqueue({ msg: { payload: i }, dedupe: `race-${i}` }),
        ]);
        expect(
          both.filter((r) => !r.duplicate),
          `race-${i}`,
        ).to.have.length(1);
        expect(both[0].id).to.equal(both[1].id);
      }
      expect(await rows("SELECT count(*)::int AS n FROM messages")).to.deep.equal([{ n: 21 }]);
    });
  });
});

async function waitFor(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error("condition not reached within 5 s");
}
