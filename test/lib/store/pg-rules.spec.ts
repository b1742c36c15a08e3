import { expect } from "chai";
import { createServer, type Server, type Socket } from "node:net";
import type { Client } from "pg";
import { CODES } from "../../../lib/error-codes";
import { checkSchemaName } from "../../../lib/store/pg-migrations";
import { openPgStore, type PgMessageStore, type PgStoreOptions } from "../../../lib/store/postgres";
import type { QueueOptions } from "../../../lib/store/types";
import { startPostgres, type PgServer } from "../../support/pg";

/**
 * The rules of the PostgreSQL message store that its callers observe (the durable-queue and
 * queue-done nodes, the admin API, an operator, a second instance on the same database), each
 * stated by one test against a real server.
 */

const OPTIONS: QueueOptions = { maxAttempts: 3, maxAgeMs: 3600_000, dedupeWindowMs: 60_000 };

interface Caught {
  code?: string;
  message?: string;
  details?: unknown;
  cause?: { code?: string };
}

async function caught(p: Promise<unknown>): Promise<Caught | undefined> {
  return p.then(
    () => undefined,
    (err: Caught) => err,
  );
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(check: () => Promise<boolean> | boolean, what: string, ms = 5000): Promise<void> {
  for (let waited = 0; waited < ms; waited += 20) {
    if (await check()) return;
    await sleep(20);
  }
  throw new Error(`${what}: not reached within ${ms} ms`);
}

describe("lib/store PostgreSQL message store: the rules its callers observe", function () {
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
    schema = `r${++schemas}`;
  });

  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close().catch(() => undefined);
  });

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

  async function rows(sql: string, values?: unknown[]): Promise<Array<Record<string, unknown>>> {
    await admin.query(`SET search_path TO ${schema}`);
    return (await admin.query(sql, values)).rows;
  }

  const dead = () => ({ dead: "permanent" as const });

  describe("closing", () => {
    it("a closed store refuses every use with QUEUE_STORE 'message store is closed'; closing twice is harmless", async () => {
      const store = await open();
      const q = store.openQueue("q", OPTIONS);
      await q.enqueue({ msg: { payload: 1 } });
      const [d] = await q.claim(1, 60_000);
      const idle = store.openQueue("idle", OPTIONS);
      await store.close();
      await store.close();
      await store.refreshStats();
      const closed = { code: CODES.QUEUE_STORE, message: "message store is closed" };
      expect(await caught(store.listQueues())).to.include(closed);
      expect(await caught(store.replay("q", {}))).to.include(closed);
      expect(
        await caught(
          store.enqueue({ queue: "q", key: null, dedupe: null, body: Buffer.from("x"), until: null }),
        ),
      ).to.include(closed);
      expect(await caught(store.complete(d.id, d.attempt))).to.include(closed);
      expect(() => store.openQueue("r", OPTIONS))
        .to.throw()
        .that.includes(closed);
      expect(await q.claim(1, 60_000), "its queues were detached: they hand out nothing").to.deep.equal([]);
      expect(await idle.releaseAll().then(() => "settled"), "nothing held: nothing to give back").to.equal(
        "settled",
      );
      expect((await rows("SELECT state FROM messages")).map((r) => r.state)).to.deep.equal([1]);
    });

    it("close waits for the enqueues already asked for: each is committed, none lost", async () => {
      const store = await open();
      const q = store.openQueue("q", OPTIONS);
      const pending = [q.enqueue({ msg: { payload: 1 } }), q.enqueue({ msg: { payload: 2 } })];
      await store.close();
      const results = await Promise.all(pending);
      expect(results.map((r) => r.duplicate)).to.deep.equal([false, false]);
      expect((await rows("SELECT id::int AS id FROM messages ORDER BY id")).map((r) => r.id)).to.deep.equal(
        results.map((r) => r.id),
      );
    });
  });

  describe("opening", () => {
    it("uses the schema pms_ehr when none is named", async () => {
      const store = openPgStore({ connectionString: server!.url, purgeIntervalMs: 0 });
      stores.push(store);
      await store.ready;
      expect(store.schema).to.equal("pms_ehr");
      const found = await admin.query(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'pms_ehr' AND table_name = 'messages'",
      );
      expect(found.rows).to.deep.equal([{ table_name: "messages" }]);
    });

    it("a failed open is QUEUE_STORE naming the schema, answered as it is for a second, then tried again", async () => {
      const store = openPgStore({
        host: "127.0.0.1",
        port: 1,
        user: "postgres",
        database: "postgres",
        schema: "away",
        purgeIntervalMs: 0,
      });
      stores.push(store);
      const first = store.ready;
      const err = await caught(first);
      expect(err?.code).to.equal(CODES.QUEUE_STORE);
      expect(err?.message).to.match(/^message store: opening the PostgreSQL store \(schema away\) failed: /);
      expect(err?.details).to.deep.equal({ postgres: "ECONNREFUSED" });
      expect(store.ready, "within the second: the same answer").to.equal(first);
      await sleep(1100);
      const second = store.ready;
      expect(second, "after it: a new attempt").to.not.equal(first);
      await caught(second);
    });

    it("a store that opened at the first attempt does not report a reopening, and keeps its one opening", async () => {
      let reopened = 0;
      const store = await open({ onReopened: () => (reopened += 1) });
      const ready = store.ready;
      expect(store.ready).to.equal(ready);
      await store.listQueues();
      expect(reopened).to.equal(0);
    });

    it("a store given no onReopened opens on a later use, quietly, once what stopped it is gone", async () => {
      await admin.query(`CREATE SCHEMA ${schema}`);
      await admin.query(`CREATE TABLE ${schema}.messages (id int)`);
      const unhandled: unknown[] = [];
      const record = (reason: unknown) => unhandled.push(reason);
      process.on("unhandledRejection", record);
      try {
        const store = openPgStore({ connectionString: server!.url, schema, purgeIntervalMs: 0 });
        stores.push(store);
        expect((await caught(store.ready))?.code).to.equal(CODES.QUEUE_STORE);
        await admin.query(`DROP TABLE ${schema}.messages`);
        await sleep(1100);
        await store.ready;
        await sleep(50);
        expect(await store.listQueues()).to.deep.equal([]);
        expect(unhandled).to.deep.equal([]);
      } finally {
        process.off("unhandledRejection", record);
      }
    });

    it("gives up on a server that does not answer after connectTimeoutMs", async () => {
      const sockets: Socket[] = [];
      const silent: Server = createServer((s) => sockets.push(s));
      await new Promise<void>((r) => silent.listen(0, "127.0.0.1", () => r()));
      const { port } = silent.address() as { port: number };
      try {
        const store = openPgStore({
          host: "127.0.0.1",
          port,
          user: "postgres",
          schema,
          purgeIntervalMs: 0,
          connectTimeoutMs: 200,
        });
        stores.push(store);
        const started = Date.now();
        expect((await caught(store.ready))?.code).to.equal(CODES.QUEUE_STORE);
        expect(Date.now() - started).to.be.below(3000);
      } finally {
        for (const s of sockets) s.destroy();
        await new Promise((r) => silent.close(r));
      }
    });

    it("connects as node-red-pms-ehr with at most poolSize connections", async () => {
      const store = await open({ poolSize: 3 });
      await Promise.all(Array.from({ length: 12 }, () => store.getState("s", "k")));
      const connections = async () =>
        (
          await admin.query(
            "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'node-red-pms-ehr'",
          )
        ).rows[0].n as number;
      // Earlier tests' closed stores may leave a backend that has not exited yet.
      await waitFor(async () => (await connections()) === 3, "3 connections", 3000);
      expect(await connections()).to.equal(3);
    });

    it("what one instance seals, another opened with the same encryptionKey reads", async () => {
      const a = await open({ encryptionKey: "s3cret" });
      await a.openQueue("q", OPTIONS).enqueue({ msg: { payload: "sealed" } });
      await a.setState("s", "k", { v: 1 });
      const b = await open({ encryptionKey: "s3cret" });
      const [d] = await b.openQueue("q", OPTIONS).claim(1, 60_000);
      expect(d.msg.payload).to.equal("sealed");
      expect(await b.getState("s", "k")).to.deep.equal({ v: 1 });
    });

    it("two instances sealing a new store at once with different keys: one opens, the other is refused with QUEUE_KEY", async () => {
      for (let round = 0; round < 6; round++) {
        schema = `r${++schemas}`;
        const results = await Promise.all(
          ["one", "two"].map((encryptionKey) => caught(open({ encryptionKey }))),
        );
        expect(results.map((r) => r?.code ?? "opened").sort(), `round ${round}`).to.deep.equal([
          CODES.QUEUE_KEY,
          "opened",
        ]);
      }
    });

    it("refuses a schema name with QUEUE_CONFIG saying what a usable name is", () => {
      expect(() => checkSchemaName("Bad"))
        .to.throw()
        .that.includes({
          code: CODES.QUEUE_CONFIG,
          message:
            'schema "Bad" is not a usable schema name: lower-case letters, digits and _, not starting with a digit or pg_, at most 63',
        });
    });
  });

  describe("failures are QUEUE_STORE naming what was being done, with the driver's code", () => {
    it("each operation names its action when the database refuses it", async () => {
      const store = await open();
      const q = store.openQueue("q", OPTIONS);
      await q.enqueue({ msg: { payload: 1 } });
      await q.enqueue({ msg: { payload: 2 } });
      await q.enqueue({ msg: { payload: 3 } });
      await q.enqueue({ msg: { payload: 4 } });
      const [d1, d2, d3, d4] = await q.claim(4, 60_000);
      await admin.query(`DROP SCHEMA ${schema} CASCADE`);
      const expectAction = async (p: Promise<unknown>, action: string) => {
        const err = await caught(p);
        expect(err?.code, action).to.equal(CODES.QUEUE_STORE);
        expect(err?.message, action).to.match(new RegExp(`^message store: ${action} failed: `));
        expect(err?.details, action).to.have.property("postgres").that.is.a("string");
      };
      await expectAction(q.enqueue({ msg: { payload: 5 } }), "enqueueing");
      await expectAction(q.complete(d1.id, d1.attempt), "recording deliveries");
      await expectAction(
        q.fail(d2.id, d2.attempt, { code: "X", message: "m" }, dead),
        "recording a dead letter",
      );
      await expectAction(
        q.fail(d3.id, d3.attempt, { code: "X", message: "m" }, () => ({ retryAt: clock })),
        "recording a retry",
      );
      void d4;
      await expectAction(q.releaseAll(), "giving deliveries back");
      await expectAction(q.claim(1, 1000), "claiming messages");
      await expectAction(store.listQueues(), "listing queues");
      await expectAction(store.deadLetters("q"), "reading dead letters");
      await expectAction(store.read("q", 1), "reading a message");
      await expectAction(store.replay("q", {}), "replaying dead letters");
      await expectAction(store.discard("q", {}), "discarding dead letters");
      await expectAction(store.getState("s", "k"), "reading state");
      await expectAction(store.setState("s", "k", 1), "writing state");
      await expectAction(store.setState("s", "k", undefined), "writing state");
      await expectAction(store.setStateIf("s", "k", null, undefined), "writing state");
      await expectAction(store.setStateIf("s", "k", "1", undefined), "writing state");
      await expectAction(store.setStateIf("s", "k", null, 1), "writing state");
      await expectAction(store.setStateIf("s", "k", "1", 1), "writing state");
      await expectAction(store.addStateIfAbsent("s", ["a"], 1, clock + 1000), "writing state");
      await expectAction(store.stateScopes(), "reading state");
      await expectAction(store.stateEntries("s", 10), "reading state");
    });

    it("reading the counts names its action", async () => {
      const store = await open();
      await store.openQueue("q", OPTIONS).enqueue({ msg: { payload: 1 } });
      await admin.query(`ALTER TABLE ${schema}.totals RENAME COLUMN delivered TO gone`);
      const err = await caught(store.listQueues());
      expect(err).to.include({ code: CODES.QUEUE_STORE });
      expect(err?.message).to.match(/^message store: reading queue counts failed: /);
      expect(err?.details).to.deep.equal({ postgres: "42703" });
      await admin.query(`ALTER TABLE ${schema}.dedupe RENAME COLUMN expires_at TO gone`);
      const purging = await caught(store.purge());
      expect(purging?.message).to.match(/^message store: running retention failed: /);
      expect(purging?.details).to.deep.equal({ postgres: "42703" });
    });
  });

  describe("the database going away", () => {
    it("a transaction or a query that cannot reach the server is QUEUE_STORE naming its action and the driver's code", async () => {
      const store = await open({ connectTimeoutMs: 1000, keepDeliveredMs: 7000 });
      expect(store.keepDelivered).to.equal(7000);
      await server!.stop();
      try {
        for (const [p, action] of [
          [store.replay("q", {}), "replaying dead letters"],
          [store.getState("s", "k"), "reading state"],
        ] as const) {
          const err = await caught(p);
          expect(err?.code, action).to.equal(CODES.QUEUE_STORE);
          expect(err?.message, action).to.match(new RegExp(`^message store: ${action} failed: `));
          expect(err?.details, action).to.deep.equal({ postgres: "ECONNREFUSED" });
        }
      } finally {
        await server!.start();
        await admin.end().catch(() => undefined);
        admin = await server!.connect();
      }
    });
  });

  describe("queues", () => {
    it("a queue just opened reads as empty and looks for due messages at once", async () => {
      const store = await open();
      const q = store.openQueue("q", OPTIONS);
      expect(q.stats()).to.deep.equal({
        queue: "q",
        depth: 0,
        inFlight: 0,
        oldestAgeMs: 0,
        deadLetters: 0,
        deliveredTotal: 0,
        deadTotal: 0,
      });
      expect(q.nextDueInMs()).to.equal(0);
    });

    it("one holder per name: a second open says so; a detached queue frees its name, once", async () => {
      const store = await open();
      const q1 = store.openQueue("q", OPTIONS);
      expect(() => store.openQueue("q", OPTIONS))
        .to.throw()
        .that.includes({
          code: CODES.QUEUE_CONFIG,
          message: 'queue "q" is already opened by another durable-queue node on this store',
        });
      await q1.enqueue({ msg: { payload: 1 } });
      q1.detach();
      expect(await q1.claim(5, 60_000), "a detached queue hands out nothing").to.deep.equal([]);
      const q2 = store.openQueue("q", OPTIONS);
      q1.detach();
      expect(() => store.openQueue("q", OPTIONS), "q2 still holds the name").to.throw(/already opened/);
      expect((await q2.claim(5, 60_000)).map((d) => d.msg.payload)).to.deep.equal([1]);
    });

    it("a claim of no messages or fewer than none hands out nothing", async () => {
      const store = await open();
      const q = store.openQueue("q", OPTIONS);
      await q.enqueue({ msg: { payload: 1 } });
      expect(await q.claim(-1, 60_000)).to.deep.equal([]);
      expect(await q.claim(0, 60_000)).to.deep.equal([]);
      expect(await rows("SELECT state FROM messages")).to.deep.equal([{ state: 0 }]);
    });

    it("wakes its listeners when a message may have become claimable, and only then; an unsubscribed one is not called", async () => {
      const store = await open();
      const q = store.openQueue("q", OPTIONS);
      let woken = 0;
      const off = q.onReady(() => (woken += 1));
      const wakes = async (what: string, run: () => Promise<unknown>, expected: number) => {
        const before = woken;
        await run();
        expect(woken - before, what).to.equal(expected);
      };
      await wakes("an enqueue", () => q.enqueue({ msg: { payload: 1 }, key: "k", dedupe: "d1" }), 1);
      await wakes("a duplicate", () => q.enqueue({ msg: { payload: 1 }, key: "k", dedupe: "d1" }), 0);
      await q.enqueue({ msg: { payload: 2 }, key: "k" });
      await q.enqueue({ msg: { payload: 3 }, key: "k" });
      await q.enqueue({ msg: { payload: 4 }, key: "j" });
      const [a, j] = await q.claim(5, 60_000);
      await wakes("a done", () => q.complete(a.id, a.attempt), 1);
      const [b] = await q.claim(5, 60_000);
      await wakes("a dead letter", () => q.fail(b.id, b.attempt, { code: "X", message: "m" }, dead), 1);
      const [c] = await q.claim(5, 60_000);
      await wakes(
        "a retry",
        () => q.fail(c.id, c.attempt, { code: "X", message: "m" }, () => ({ retryAt: clock })),
        1,
      );
      await q.claim(5, 60_000);
      await wakes("a release", () => q.releaseAll(), 1);
      await wakes("a replay", () => store.replay("q", {}), 1);
      await wakes("a replay of nothing", () => store.replay("q", {}), 0);
      await q.fail(j.id, j.attempt, { code: "X", message: "m" }, dead);
      await wakes("a discard", () => store.discard("q", {}), 0);
      await wakes("a release of nothing", () => q.releaseAll(), 0);
      off();
      await wakes("after unsubscribing", () => q.enqueue({ msg: { payload: 5 } }), 0);
    });

    it("replays and discards on a queue this store has not opened", async () => {
      const a = await open();
      const q = a.openQueue("q", OPTIONS);
      await q.enqueue({ msg: { payload: 1 } });
      await q.enqueue({ msg: { payload: 2 } });
      const ds = await q.claim(2, 60_000);
      for (const d of ds) await q.fail(d.id, d.attempt, { code: "X", message: "m" }, dead);
      const b = await open();
      expect(await b.replay("q", { ids: [ds[0].id] })).to.equal(1);
      expect(await b.discard("q", { ids: [ds[1].id] })).to.equal(1);
      expect((await q.claim(5, 60_000)).map((d) => d.msg.payload)).to.deep.equal([1]);
    });

    it("hands a batch out in id order, whatever order the messages came due in", async () => {
      const store = await open();
      const q = store.openQueue("q", OPTIONS);
      for (let i = 1; i <= 4; i++) await q.enqueue({ msg: { payload: i } });
      const [first] = await q.claim(1, 60_000);
      await q.fail(first.id, first.attempt, { code: "X", message: "m" }, () => ({ retryAt: clock + 5 }));
      clock += 10;
      const batch = await q.claim(10, 60_000);
      expect(batch.map((d) => d.msg.payload)).to.deep.equal([1, 2, 3, 4]);
    });

    it("after a claim that filled its batch, says to look again now; after one that did not, when the next is due", async () => {
      const store = await open();
      const q = store.openQueue("q", OPTIONS);
      await q.enqueue({ msg: { payload: 1 } });
      await q.claim(1, 5000);
      expect(q.nextDueInMs(), "more may wait").to.equal(0);
      await q.claim(5, 5000);
      expect(q.nextDueInMs(), "the first lease ends").to.equal(5000);
    });

    it("says nothing is due when nothing waits and nothing is in flight", async () => {
      const store = await open();
      const q = store.openQueue("q", OPTIONS);
      await q.enqueue({ msg: { payload: 1 } });
      const [d] = await q.claim(5, 5000);
      await q.complete(d.id, d.attempt);
      expect(await q.claim(5, 5000)).to.deep.equal([]);
      expect(q.nextDueInMs()).to.equal(undefined);
    });

    it("after a retry, the next due time is the earlier of the retry and what was due before", async () => {
      const store = await open();
      const q = store.openQueue("q", OPTIONS);
      await q.enqueue({ msg: { payload: 1 } });
      await q.enqueue({ msg: { payload: 2 } });
      const [a] = await q.claim(5, 5000);
      expect(q.nextDueInMs()).to.equal(5000);
      expect(
        await q.fail(a.id, a.attempt, { code: "X", message: "m" }, () => ({ retryAt: clock + 10_000 })),
      ).to.deep.equal({
        outcome: "retry",
        retryAt: clock + 10_000,
      });
      expect(q.nextDueInMs(), "the other's lease ends first").to.equal(5000);
    });

    it("records an error message of at most 500 characters on a retry", async () => {
      const store = await open();
      const q = store.openQueue("q", OPTIONS);
      await q.enqueue({ msg: { payload: 1 } });
      const [d] = await q.claim(1, 5000);
      await q.fail(d.id, d.attempt, { code: "X", message: "e".repeat(600) }, () => ({ retryAt: clock }));
      expect(await rows("SELECT length(error_message) AS n, error_code FROM messages")).to.deep.equal([
        { n: 500, error_code: "X" },
      ]);
    });

    it("an unreadable message is a dead letter with the decoder's code, not a delivery", async () => {
      const store = await open();
      const q = store.openQueue("q", OPTIONS);
      const { id } = await q.enqueue({ msg: { payload: 1 } });
      await rows("UPDATE messages SET body = '\\x'::bytea");
      expect(await q.claim(5, 5000)).to.deep.equal([]);
      await waitFor(async () => (await store.deadLetters("q")).length === 1, "the dead letter");
      const [letter] = await store.deadLetters("q");
      expect(letter).to.include({
        id,
        code: CODES.QUEUE_CORRUPT,
        message: "stored message is empty",
        attempts: 1,
      });
    });

    it("an unreadable message is a dead letter with QUEUE_KEY when sealed and no key is set, QUEUE_CORRUPT when not JSON", async () => {
      const store = await open();
      const q = store.openQueue("q", OPTIONS);
      const sealed = await q.enqueue({ msg: { payload: 1 } });
      const garbled = await q.enqueue({ msg: { payload: 2 } });
      await rows("UPDATE messages SET body = decode('01' || repeat('00', 40), 'hex') WHERE id = $1", [
        sealed.id,
      ]);
      await rows("UPDATE messages SET body = decode('007b', 'hex') WHERE id = $1", [garbled.id]);
      expect(await q.claim(5, 5000)).to.deep.equal([]);
      await waitFor(async () => (await store.deadLetters("q")).length === 2, "the dead letters");
      const letters = await store.deadLetters("q");
      expect(letters.map((l) => [l.id, l.code])).to.deep.equal([
        [sealed.id, CODES.QUEUE_KEY],
        [garbled.id, CODES.QUEUE_CORRUPT],
      ]);
      expect(letters[0].message).to.equal(
        "stored message is encrypted and the message store has no encryptionKey",
      );
    });

    it("counts a claimed delivery as in flight at once, before the counts are read again", async () => {
      const store = await open();
      const q = store.openQueue("q", OPTIONS);
      await q.enqueue({ msg: { payload: 1 } });
      await waitFor(() => q.stats().depth === 1, "the count after the enqueue");
      await q.claim(1, 60_000);
      expect(q.stats().inFlight).to.equal(1);
    });

    it("reads its counts again soon after each change it makes", async () => {
      const store = await open();
      const q = store.openQueue("q", OPTIONS);
      await sleep(100);
      for (let n = 1; n <= 4; n++) {
        await q.enqueue({ msg: { payload: n } });
        await waitFor(() => q.stats().depth === n, `depth ${n}`, 700);
      }
    });

    it("reads the counts each second, so that another instance's enqueues show", async () => {
      const a = await open();
      const b = await open();
      const qa = a.openQueue("q", OPTIONS);
      await sleep(100);
      await b.openQueue("q", OPTIONS).enqueue({ msg: { payload: 1 } });
      await waitFor(() => qa.stats().depth === 1, "A's count", 2500);
    });

    it("lists queues by name, open ones without messages among them, with the age of their oldest message", async () => {
      const store = await open();
      const other = await open();
      await other.openQueue("z", OPTIONS).enqueue({ msg: { payload: 1 } });
      await other.openQueue("m", OPTIONS).enqueue({ msg: { payload: 1 } });
      store.openQueue("a", OPTIONS);
      clock += 5000;
      const list = await store.listQueues();
      expect(list.map((s) => [s.queue, s.depth, s.oldestAgeMs])).to.deep.equal([
        ["a", 0, 0],
        ["m", 1, 5000],
        ["z", 1, 5000],
      ]);
    });
  });

  describe("two instances", () => {
    it("a done or dead letter for a delivery this instance does not hold is stale, even for the attempt another holds", async () => {
      const a = await open();
      const b = await open();
      const [qa, qb] = [a.openQueue("q", OPTIONS), b.openQueue("q", OPTIONS)];
      await qa.enqueue({ msg: { payload: 1 } });
      const [d] = await qb.claim(1, 60_000);
      expect(await qa.complete(d.id, d.attempt)).to.equal(false);
      expect(await qa.fail(d.id, d.attempt, { code: "X", message: "m" }, dead)).to.deep.equal({
        outcome: "stale",
      });
      expect(await qb.complete(d.id, d.attempt)).to.equal(true);
    });

    it("a failure recorded after another instance took the delivery over is stale, retry or dead", async () => {
      const a = await open();
      const b = await open();
      const [qa, qb] = [a.openQueue("q", OPTIONS), b.openQueue("q", OPTIONS)];
      await qa.enqueue({ msg: { payload: 1 } });
      await qa.enqueue({ msg: { payload: 2 } });
      const [d1, d2] = await qa.claim(2, 1000);
      clock += 1000;
      const taken = await qb.claim(2, 60_000);
      expect(taken.map((d) => d.attempt)).to.deep.equal([2, 2]);
      expect(await qa.fail(d1.id, d1.attempt, { code: "X", message: "m" }, dead)).to.deep.equal({
        outcome: "stale",
      });
      expect(
        await qa.fail(d2.id, d2.attempt, { code: "X", message: "m" }, () => ({ retryAt: clock })),
      ).to.deep.equal({ outcome: "stale" });
      expect(await rows("SELECT state, attempt FROM messages ORDER BY id")).to.deep.equal([
        { state: 1, attempt: 2 },
        { state: 1, attempt: 2 },
      ]);
    });

    it("a replay waits for the lock an enqueue of the same key holds, so that the key's order is commit order", async () => {
      const store = await open();
      const q = store.openQueue("q", OPTIONS);
      await q.enqueue({ msg: { payload: 1 }, key: "k" });
      const [d] = await q.claim(1, 60_000);
      await q.fail(d.id, d.attempt, { code: "X", message: "m" }, dead);
      const holder = await server!.connect();
      try {
        await holder.query("BEGIN");
        await holder.query(
          "SELECT pg_advisory_xact_lock(hashtext('pms-ehr key'), hashtext($1 || chr(1) || $2))",
          ["q", "k"],
        );
        let settled = false;
        const replay = store.replay("q", {}).then((n) => ((settled = true), n));
        await sleep(300);
        expect(settled, "waits while the key is locked").to.equal(false);
        await holder.query("COMMIT");
        expect(await replay).to.equal(1);
      } finally {
        await holder.end();
      }
    });

    it("retention runs on one instance at a time: another finds the lock taken and skips the round", async () => {
      const store = await open();
      await store.setState("s", "k", 1, clock + 10);
      clock += 20;
      const holder = await server!.connect();
      try {
        await holder.query("BEGIN");
        await holder.query("SELECT pg_advisory_xact_lock(hashtext('pms-ehr purge'), hashtext($1))", [schema]);
        expect(await store.purge()).to.deep.equal({ delivered: 0, dedupe: 0, state: 0 });
        await holder.query("COMMIT");
      } finally {
        await holder.end();
      }
      expect(await store.purge()).to.deep.equal({ delivered: 0, dedupe: 0, state: 1 });
    });

    it("runs retention every purgeIntervalMs", async () => {
      const store = await open({ keepDeliveredMs: 1000, purgeIntervalMs: 100 });
      const q = store.openQueue("q", OPTIONS);
      await q.enqueue({ msg: { payload: 1 } });
      const [d] = await q.claim(1, 60_000);
      await q.complete(d.id, d.attempt);
      clock += 2000;
      await waitFor(async () => (await store.read("q", d.id)) === undefined, "retention", 3000);
    });
  });

  describe("dedupe", () => {
    it("copies with one dedupe id sent together make one write; a copy whose first failed to commit is stored in its place", async () => {
      const store = await open();
      const q = store.openQueue("q", OPTIONS);
      const before = store.commits;
      const [x, y] = await Promise.all([
        q.enqueue({ msg: { payload: 1 }, dedupe: "d" }),
        q.enqueue({ msg: { payload: 1 }, dedupe: "d" }),
      ]);
      expect(store.commits - before).to.equal(1);
      expect([x.duplicate, y.duplicate, y.id]).to.deep.equal([false, true, x.id]);
      // A NUL in a key is text PostgreSQL refuses: that batch fails, the copy behind it goes on its own.
      const [bad, good] = await Promise.allSettled([
        q.enqueue({ msg: { payload: 2 }, dedupe: "e", key: "bad\u0000key" }),
        q.enqueue({ msg: { payload: 2 }, dedupe: "e", key: "ok" }),
      ]);
      expect(bad.status).to.equal("rejected");
      expect(good.status).to.equal("fulfilled");
      expect((good as PromiseFulfilledResult<{ duplicate: boolean }>).value.duplicate).to.equal(false);
      expect(await rows("SELECT key FROM messages ORDER BY id")).to.deep.equal([
        { key: null },
        { key: "ok" },
      ]);
    });
  });

  describe("dead letters", () => {
    async function threeDead(store: PgMessageStore) {
      const q = store.openQueue("q", OPTIONS);
      const ids: number[] = [];
      for (let i = 0; i < 3; i++) {
        await q.enqueue({ msg: { payload: i }, key: "k" });
        const [d] = await q.claim(1, 60_000);
        await q.fail(d.id, d.attempt, { code: "X", message: "m" }, dead);
        ids.push(d.id);
        clock += 1000;
      }
      return { q, ids };
    }

    it("filters by ids (unusable ids match nothing), from, to, and limit", async () => {
      const store = await open();
      const { ids } = await threeDead(store);
      const t0 = 1_000_000;
      const idsOf = async (f: Parameters<PgMessageStore["deadLetters"]>[1]) =>
        (await store.deadLetters("q", f)).map((l) => l.id);
      expect(await idsOf({ ids: [ids[1]] })).to.deep.equal([ids[1]]);
      expect(await idsOf({ ids: [1.5] })).to.deep.equal([]);
      expect(await idsOf({ from: t0 + 1000 })).to.deep.equal([ids[1], ids[2]]);
      expect(await idsOf({ to: t0 + 1000 })).to.deep.equal([ids[0]]);
      expect(await idsOf({ from: t0 + 1000, to: t0 + 2000 })).to.deep.equal([ids[1]]);
      expect(await idsOf({ limit: 2 })).to.deep.equal([ids[0], ids[1]]);
      expect(await store.read("q", 1.5)).to.equal(undefined);
    });

    it("replays several dead letters of one key in their order", async () => {
      const store = await open();
      const { q } = await threeDead(store);
      expect(await store.replay("q", {})).to.equal(3);
      const got: unknown[] = [];
      for (let i = 0; i < 5 && got.length < 3; i++) {
        for (const d of await q.claim(5, 60_000)) {
          got.push(d.msg.payload);
          await q.complete(d.id, d.attempt);
        }
      }
      expect(got).to.deep.equal([0, 1, 2]);
    });
  });

  describe("state", () => {
    it("setting undefined deletes the key: no scope, no entry", async () => {
      const store = await open();
      await store.setState("s", "k", 1);
      await store.setState("s", "k", undefined);
      expect(await store.stateScopes()).to.deep.equal([]);
      expect(await store.stateEntries("s", 10)).to.deep.equal([]);
    });

    it("a value set with an expiry reads as absent from then on, through setState and setStateIf", async () => {
      const store = await open();
      await store.setState("s", "a", 1, clock + 100);
      expect(await store.setStateIf("s", "b", null, 2, clock + 100)).to.equal(true);
      expect(await store.getState("s", "a")).to.equal(1);
      clock += 100;
      expect(await store.getState("s", "a")).to.equal(undefined);
      expect(await store.getState("s", "b")).to.equal(undefined);
    });

    it("compare-and-set refuses a version that is no version, and takes a version of many digits", async () => {
      const store = await open();
      for (const bad of ["abc", "x1", "1x", "12345678901234567890"])
        expect(await store.setStateIf("s", "k", bad, 1), bad).to.equal(false);
      for (let i = 0; i < 12; i++) await store.setState("s", "k", i);
      const v = await store.getStateVersioned("s", "k");
      expect(Number(v!.version)).to.be.above(9);
      expect(await store.setStateIf("s", "k", v!.version, "new")).to.equal(true);
      expect(await store.getState("s", "k")).to.equal("new");
    });

    it("compare-and-set of absent to absent is true while absent, false once a value is there", async () => {
      const store = await open();
      expect(await store.setStateIf("s", "k", null, undefined)).to.equal(true);
      await store.setState("s", "k", 1);
      expect(await store.setStateIf("s", "k", null, undefined)).to.equal(false);
      expect(await store.getState("s", "k")).to.equal(1);
    });

    it("compare-and-delete at a stale version is false and deletes nothing", async () => {
      const store = await open();
      await store.setState("s", "k", 1);
      const old = await store.getStateVersioned("s", "k");
      await store.setState("s", "k", 2);
      expect(await store.setStateIf("s", "k", old!.version, undefined)).to.equal(false);
      expect(await store.getState("s", "k")).to.equal(2);
      const now = await store.getStateVersioned("s", "k");
      expect(await store.setStateIf("s", "k", now!.version, undefined)).to.equal(true);
      expect(await store.getState("s", "k")).to.equal(undefined);
    });

    it("add-if-absent of a value JSON cannot hold is QUEUE_BAD_INPUT naming the keys", async () => {
      const store = await open();
      const err = await caught(store.addStateIfAbsent("s", ["a", "b"], 10n, clock + 1000));
      expect(err?.code).to.equal(CODES.QUEUE_BAD_INPUT);
      expect(err?.message).to.match(/^state a, b: not storable as JSON: /);
    });
  });

  describe("migrations", () => {
    it("a failed migration keeps the driver's error as its cause", async () => {
      await admin.query(`CREATE SCHEMA ${schema}`);
      await admin.query(`CREATE TABLE ${schema}.messages (id int)`);
      const store = openPgStore({ connectionString: server!.url, schema, purgeIntervalMs: 0 });
      stores.push(store);
      const err = await caught(store.ready);
      expect(err?.code).to.equal(CODES.QUEUE_STORE);
      expect(err?.message).to.equal(
        'migrating the message store schema ${schema}: relation "messages" already exists'.replace(
          "${schema}",
          schema,
        ),
      );
      expect(err?.cause?.code).to.equal("42P07");
    });
  });
});
