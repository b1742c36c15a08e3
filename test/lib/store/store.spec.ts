import { expect } from "chai";
import Database from "better-sqlite3";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nextTry, type RetryPolicy } from "../../../lib/store/policy";
import { openSqliteStore, type SqliteMessageStore, type SqliteStoreOptions } from "../../../lib/store/sqlite";
import type { QueueOptions } from "../../../lib/store/types";

const OPTIONS: QueueOptions = { maxAttempts: 3, maxAgeMs: 3600_000, dedupeWindowMs: 60_000 };
const POLICY: RetryPolicy = { maxAttempts: 3, maxAgeMs: 3600_000, backoffBaseMs: 1000, backoffCapMs: 8000 };

describe("lib/store SQLite message store", function () {
  let dir: string;
  let file: string;
  let clock: number;
  const stores: SqliteMessageStore[] = [];

  function open(extra: Partial<SqliteStoreOptions> = {}): SqliteMessageStore {
    const store = openSqliteStore({ file, now: () => clock, purgeIntervalMs: 0, ...extra });
    stores.push(store);
    return store;
  }

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "pms-ehr-store-"));
    file = join(dir, "queue.db");
    clock = 1_000_000;
  });

  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("has committed a message when enqueue resolves: another connection reads it", async () => {
    const store = open();
    const q = store.openQueue("q", OPTIONS);
    const r = await q.enqueue({ msg: { payload: { a: 1 }, topic: "t" }, key: "k1" });
    expect(r).to.deep.equal({ id: 1, enqueuedAt: clock, duplicate: false });
    const other = new Database(file, { readonly: true });
    try {
      const row = other.prepare("SELECT queue, key, state FROM messages").get();
      expect(row).to.deep.equal({ queue: "q", key: "k1", state: 0 });
    } finally {
      other.close();
    }
  });

  it("commits enqueues that arrive together in one transaction", async () => {
    const store = open();
    const q = store.openQueue("q", OPTIONS);
    const before = store.commits;
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => q.enqueue({ msg: { payload: i } })),
    );
    expect(store.commits - before).to.equal(1);
    expect(results.map((r) => r.id)).to.deep.equal(Array.from({ length: 200 }, (_, i) => i + 1));
    expect(q.stats().depth).to.equal(200);
  });

  it("delivers what was stored, Buffers included, and deletes it when done", async () => {
    const store = open();
    const q = store.openQueue("q", OPTIONS);
    await q.enqueue({
      msg: { payload: Buffer.from("MSH|^~\\&|"), topic: "ADT^A01", hl7: { controlId: "1" } },
    });
    const [d] = await q.claim(4, 60_000);
    expect(d.attempt).to.equal(1);
    expect(Buffer.isBuffer(d.msg.payload)).to.equal(true);
    expect((d.msg.payload as Buffer).toString()).to.equal("MSH|^~\\&|");
    expect(d.msg.hl7).to.deep.equal({ controlId: "1" });
    expect(await q.complete(d.id, d.attempt)).to.equal(true);
    expect(q.stats()).to.include({ depth: 0, inFlight: 0, deliveredTotal: 1 });
    const reader = new Database(file, { readonly: true });
    try {
      expect(reader.prepare("SELECT COUNT(*) AS n FROM messages").get()).to.deep.equal({ n: 0 });
    } finally {
      reader.close();
    }
    expect(await q.complete(d.id, d.attempt), "a second done is stale").to.equal(false);
  });

  it("keeps delivered messages for keepDelivered, then purges them", async () => {
    const store = open({ keepDeliveredMs: 10_000 });
    const q = store.openQueue("q", OPTIONS);
    await q.enqueue({ msg: { payload: 1 } });
    const [d] = await q.claim(1, 60_000);
    await q.complete(d.id, d.attempt);
    expect((await store.read("q", d.id))?.state).to.equal("delivered");
    expect((await store.purge(clock + 5_000)).delivered).to.equal(0);
    expect((await store.purge(clock + 10_001)).delivered).to.equal(1);
    expect(await store.read("q", d.id)).to.equal(undefined);
  });

  it("keeps a delivery finished in the same commit as its claim delivered, not in flight", async () => {
    const store = open({ keepDeliveredMs: 10_000 });
    const q = store.openQueue("q", OPTIONS);
    await q.enqueue({ msg: { payload: "a" } });
    await q.enqueue({ msg: { payload: "b" } });
    // The first done opens the commit's records before "b" is claimed.
    const [a] = await q.claim(1, 60_000);
    const doneA = q.complete(a.id, a.attempt);
    const [b] = await q.claim(1, 60_000);
    const doneB = q.complete(b.id, b.attempt);
    expect(await Promise.all([doneA, doneB])).to.deep.equal([true, true]);
    expect(await store.read("q", b.id)).to.include({ state: "delivered", attempts: 1 });
    expect(await store.read("q", a.id)).to.include({ state: "delivered", attempts: 1 });
  });

  it("records a claim's attempt in the next commit, also beside a delivery of the same claim that finished", async () => {
    const store = open();
    const q = store.openQueue("q", OPTIONS);
    await q.enqueue({ msg: { payload: "a" } });
    await q.enqueue({ msg: { payload: "b" } });
    const [a, b] = await q.claim(2, 60_000);
    expect(await q.complete(a.id, a.attempt)).to.equal(true);
    expect(await store.read("q", a.id)).to.equal(undefined);
    expect(await store.read("q", b.id)).to.include({ state: "in-flight", attempts: 1 });
  });

  it("delivers one message of a key at a time, in order, while other keys overtake a stuck one", async () => {
    const store = open();
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
    // "a" fails and waits for its retry; "b" goes on.
    const a1 = first[0];
    await q.fail(a1.id, a1.attempt, { code: "FHIR_HTTP_503", message: "down" }, () => ({
      retryAt: clock + 5000,
    }));
    await q.complete(first[1].id, first[1].attempt);
    expect((await q.claim(10, 60_000)).map((d) => d.msg.payload)).to.deep.equal([5]);
    expect(q.nextDueInMs()).to.equal(5000);
    clock += 5000;
    const again = await q.claim(10, 60_000);
    expect(again.map((d) => [d.msg.payload, d.attempt])).to.deep.equal([[1, 2]]);
    await q.complete(again[0].id, again[0].attempt);
    expect((await q.claim(10, 60_000)).map((d) => d.msg.payload)).to.deep.equal([2]);
  });

  it("makes a dead letter at once on a permanent failure and unblocks the key", async () => {
    const store = open();
    const q = store.openQueue("q", OPTIONS);
    await q.enqueue({ msg: { payload: "poison" }, key: "k" });
    await q.enqueue({ msg: { payload: "next" }, key: "k" });
    const [d] = await q.claim(10, 60_000);
    const decision = nextTry(POLICY, { code: "MAP_REQUIRED" }, d.attempt, d.enqueuedAt, clock);
    expect(decision).to.deep.equal({ dead: "permanent" });
    expect(
      await q.fail(d.id, d.attempt, { code: "MAP_REQUIRED", message: "gender is required" }, () => ({
        dead: "permanent",
      })),
    ).to.deep.equal({
      outcome: "dead",
      reason: "permanent",
    });
    expect((await q.claim(10, 60_000)).map((x) => x.msg.payload)).to.deep.equal(["next"]);
    const letters = await store.deadLetters("q");
    expect(letters).to.have.length(1);
    expect(letters[0]).to.include({
      id: d.id,
      key: "k",
      code: "MAP_REQUIRED",
      message: "gender is required",
      attempts: 1,
    });
    expect(q.stats()).to.include({ deadLetters: 1, deadTotal: 1 });
  });

  it("replays dead letters matching a filter with fresh attempts, and discards others", async () => {
    const store = open();
    const q = store.openQueue("q", OPTIONS);
    for (let i = 0; i < 3; i++) await q.enqueue({ msg: { payload: i }, key: `k${i}` });
    const ds = await q.claim(10, 60_000);
    await q.fail(ds[0].id, 1, { code: "FHIR_HTTP_400", message: "bad" }, () => ({ dead: "permanent" }));
    await q.fail(ds[1].id, 1, { code: "FHIR_HTTP_422", message: "bad" }, () => ({ dead: "permanent" }));
    await q.fail(ds[2].id, 1, { code: "FHIR_HTTP_400", message: "bad" }, () => ({ dead: "permanent" }));
    expect(await store.replay("q", { code: "FHIR_HTTP_400" })).to.equal(2);
    expect(q.stats().deadLetters).to.equal(1);
    const again = await q.claim(10, 60_000);
    expect(again.map((d) => [d.msg.payload, d.attempt])).to.deep.equal([
      [0, 1],
      [2, 1],
    ]);
    expect(await store.discard("q", { ids: [ds[1].id] })).to.equal(1);
    expect(await store.deadLetters("q")).to.deep.equal([]);
    expect(q.stats().deadLetters).to.equal(0);
  });

  it("answers a repeated dedupe id as a duplicate within the window, not after", async () => {
    const store = open();
    const q = store.openQueue("q", OPTIONS);
    const first = await q.enqueue({ msg: { payload: 1 }, dedupe: "evt-1" });
    const again = await q.enqueue({ msg: { payload: 1 }, dedupe: "evt-1" });
    expect(again).to.deep.equal({ id: first.id, enqueuedAt: clock, duplicate: true });
    expect(q.stats().depth).to.equal(1);
    clock += OPTIONS.dedupeWindowMs + 1;
    expect((await q.enqueue({ msg: { payload: 1 }, dedupe: "evt-1" })).duplicate).to.equal(false);
    expect((await store.purge()).dedupe, "the first, expired").to.equal(1);
    clock += OPTIONS.dedupeWindowMs + 1;
    expect((await store.purge()).dedupe).to.equal(1);
  });

  it("takes one of two copies with one dedupe id arriving together, and knows the id after a restart", async () => {
    let store = open();
    let q = store.openQueue("q", OPTIONS);
    const both = await Promise.all([
      q.enqueue({ msg: { payload: "a" }, dedupe: "evt-2" }),
      q.enqueue({ msg: { payload: "a" }, dedupe: "evt-2" }),
    ]);
    expect(both.map((r) => r.duplicate)).to.deep.equal([false, true]);
    expect(both[1].id).to.equal(both[0].id);
    q.detach();
    stores.splice(stores.indexOf(store), 1);
    await store.close();
    store = open();
    q = store.openQueue("q", OPTIONS);
    expect(await q.enqueue({ msg: { payload: "a" }, dedupe: "evt-2" })).to.deep.include({
      id: both[0].id,
      duplicate: true,
    });
    expect(q.stats().depth).to.equal(1);
  });

  it("hands a delivery out again when its visibility runs out, and ignores the late done", async () => {
    const store = open();
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
    expect(await q.complete(again.id, again.attempt)).to.equal(true);
  });

  it("after a crash, delivers again what was in flight, and dead-letters a message that kept crashing it", async () => {
    let store = open();
    let q = store.openQueue("q", OPTIONS);
    await q.enqueue({ msg: { payload: "a" }, key: "k" });
    await q.enqueue({ msg: { payload: "b" } });
    for (let crash = 1; crash <= OPTIONS.maxAttempts; crash++) {
      const ds = await q.claim(10, 60_000);
      expect(ds.find((d) => d.msg.payload === "a")?.attempt).to.equal(crash);
      // "b" is done on the first round, so only "a" keeps coming back.
      const b = ds.find((d) => d.msg.payload === "b");
      if (b) await q.complete(b.id, b.attempt);
      await new Promise((r) => setImmediate(r)); // the claim's attempt count commits
      // A crash: only the file survives; a new store on it stands in for the restarted runtime.
      q.detach();
      stores.splice(stores.indexOf(store), 1);
      await store.close();
      store = open();
      q = store.openQueue("q", OPTIONS);
    }
    expect(await q.claim(10, 60_000)).to.deep.equal([]);
    await new Promise((r) => setImmediate(r));
    const [letter] = await store.deadLetters("q");
    expect(letter).to.include({ code: "QUEUE_INTERRUPTED", attempts: OPTIONS.maxAttempts });
  });

  it("dead-letters a message past its maximum age instead of delivering it", async () => {
    const store = open();
    const q = store.openQueue("q", { ...OPTIONS, maxAgeMs: 10_000 });
    await q.enqueue({ msg: { payload: 1 } });
    clock += 10_001;
    expect(await q.claim(1, 1000)).to.deep.equal([]);
    await new Promise((r) => setImmediate(r));
    expect((await store.deadLetters("q"))[0]).to.include({ code: "QUEUE_EXPIRED", attempts: 0 });
  });

  it("seals payloads with the encryptionKey: the file holds no patient name, and a wrong key is refused", async () => {
    const store = open({ encryptionKey: "correct horse battery staple" });
    expect(store.encrypted).to.equal(true);
    const q = store.openQueue("q", OPTIONS);
    for (let i = 0; i < 20; i++) {
      await q.enqueue({
        msg: { payload: { name: [{ family: "Quixotefamily", given: ["Rosalind"] }], n: i } },
      });
    }
    const [d] = await q.claim(1, 1000);
    expect(d.msg.payload).to.deep.include({ name: [{ family: "Quixotefamily", given: ["Rosalind"] }] });
    q.detach();
    await store.close();
    stores.splice(0);
    const bytes = Buffer.concat([readFileSync(file), readFileSyncIf(`${file}-wal`)]);
    expect(bytes.includes("Quixotefamily")).to.equal(false);
    expect(bytes.includes("Rosalind")).to.equal(false);
    expect(() => open({ encryptionKey: "wrong" }))
      .to.throw()
      .with.property("code", "QUEUE_KEY");
    // Without its key it is not opened either: it would take new messages in plain text.
    expect(() => open())
      .to.throw(/sealed with an encryptionKey and none is set/)
      .with.property("code", "QUEUE_KEY");
    const again = open({ encryptionKey: "correct horse battery staple" });
    // With it back, every message is there and readable (the one claimed before was never done).
    const back = await again.openQueue("q", OPTIONS).claim(20, 1000);
    expect(back.map((d) => (d.msg.payload as { n: number }).n).sort((x, y) => x - y)).to.deep.equal(
      Array.from({ length: 20 }, (_, i) => i),
    );
  });

  it("stores plain JSON without a key (what the encryption test greps for is really there)", async () => {
    const store = open();
    const q = store.openQueue("q", OPTIONS);
    await q.enqueue({ msg: { payload: { family: "Quixotefamily" } } });
    q.detach();
    await store.close();
    stores.splice(0);
    const bytes = Buffer.concat([readFileSync(file), readFileSyncIf(`${file}-wal`)]);
    expect(bytes.includes("Quixotefamily")).to.equal(true);
  });

  it("fails the enqueue with QUEUE_STORE when the file cannot be written, and keeps nothing of it", async () => {
    const store = open({ busyTimeoutMs: 50 });
    const q = store.openQueue("q", OPTIONS);
    await q.enqueue({ msg: { payload: "before" } });
    const locker = new Database(file);
    locker.exec("BEGIN EXCLUSIVE");
    try {
      const err = await q.enqueue({ msg: { payload: "during" } }).then(
        () => undefined,
        (e: unknown) => e as Error & { code?: string },
      );
      expect(err?.code).to.equal("QUEUE_STORE");
      expect(q.stats().depth).to.equal(1);
    } finally {
      locker.exec("ROLLBACK");
      locker.close();
    }
    const ds = await q.claim(10, 1000);
    expect(ds.map((d) => d.msg.payload)).to.deep.equal(["before"]);
  });

  it("refuses to open a file that is not a message store, with QUEUE_STORE", () => {
    writeFileSync(file, Buffer.alloc(8192, 0x5a));
    expect(() => open())
      .to.throw()
      .with.property("code", "QUEUE_STORE");
  });

  it("lets only one holder open a queue name", () => {
    const store = open();
    store.openQueue("q", OPTIONS);
    expect(() => store.openQueue("q", OPTIONS))
      .to.throw()
      .with.property("code", "QUEUE_CONFIG");
  });

  it("lists an open queue before its first message, and queues that are not open, from the file", async () => {
    const store = open();
    const idle = store.openQueue("idle", OPTIONS);
    expect((await store.listQueues()).map((q) => q.queue)).to.deep.equal(["idle"]);
    idle.detach();
    const q = store.openQueue("q", OPTIONS);
    await q.enqueue({ msg: { payload: 1 } });
    await q.enqueue({ msg: { payload: 2 } });
    const [d] = await q.claim(1, 1000);
    await q.fail(d.id, d.attempt, { code: "X", message: "x" }, () => ({ dead: "permanent" }));
    q.detach();
    clock += 2000;
    expect(await store.listQueues()).to.deep.equal([
      {
        queue: "q",
        depth: 1,
        inFlight: 0,
        oldestAgeMs: 2000,
        deadLetters: 1,
        deliveredTotal: 0,
        deadTotal: 1,
      },
    ]);
  });

  it("keeps the file bounded over 100,000 messages enqueued, delivered and done", async function () {
    this.timeout(120_000);
    const store = open();
    const q = store.openQueue("q", OPTIONS);
    const payload = { resourceType: "Patient", text: "x".repeat(400) };
    let pagesAt20k = 0;
    for (let round = 0; round < 100; round++) {
      await Promise.all(Array.from({ length: 1000 }, () => q.enqueue({ msg: { payload } })));
      let claims = 0;
      for (;;) {
        const ds = await q.claim(500, 60_000);
        if (ds.length === 0) break;
        expect(++claims, "claims of one round's 1,000 messages, 500 at a time").to.be.at.most(2);
        await Promise.all(ds.map((d) => q.complete(d.id, d.attempt)));
      }
      if (round === 19) pagesAt20k = store.pageCount();
    }
    expect(q.stats()).to.include({ depth: 0, deliveredTotal: 100_000 });
    const pages = store.pageCount();
    expect(pages, `pages ${pagesAt20k} -> ${pages}`).to.be.at.most(pagesAt20k + 16);
    expect(statSync(file).size).to.be.below(4 * 1024 * 1024);
  });

  describe("node state", () => {
    function rowsOf(): Array<{ scope: string; key: string; expires_at: number | null }> {
      const other = new Database(file, { readonly: true });
      try {
        return other.prepare("SELECT scope, key, expires_at FROM state ORDER BY scope, key").all() as Array<{
          scope: string;
          key: string;
          expires_at: number | null;
        }>;
      } finally {
        other.close();
      }
    }

    it("has committed a value when setState resolves: another connection reads it", async () => {
      const store = open();
      await store.setState("global", "syncCheckpoint_patients", {
        highWater: "2025-01-06T08:00:00Z",
        n: [1, 2],
      });
      expect(rowsOf()).to.deep.equal([{ scope: "global", key: "syncCheckpoint_patients", expires_at: null }]);
      await store.close();
      const reopened = open();
      expect(await reopened.getState("global", "syncCheckpoint_patients")).to.deep.equal({
        highWater: "2025-01-06T08:00:00Z",
        n: [1, 2],
      });
    });

    it("keeps scopes apart, replaces a value, and deletes it when set to undefined", async () => {
      const store = open();
      await Promise.all([store.setState("node:a", "k", 1), store.setState("node:b", "k", 2)]);
      await store.setState("node:a", "k", [3]);
      expect(await store.getState("node:a", "k")).to.deep.equal([3]);
      expect(await store.getState("node:b", "k")).to.equal(2);
      expect(await store.getState("node:c", "k")).to.equal(undefined);
      await store.setState("node:a", "k", undefined);
      expect(await store.getState("node:a", "k")).to.equal(undefined);
      expect(rowsOf().map((r) => r.scope)).to.deep.equal(["node:b"]);
    });

    it("reads a write that was asked for and not yet committed, and commits it first", async () => {
      const store = open();
      const commits = store.commits;
      const written = store.setState("flow:f", "runs", ["one"]);
      expect(await store.getState("flow:f", "runs")).to.deep.equal(["one"]);
      expect(store.commits).to.equal(commits + 1);
      await written;
      expect(rowsOf()).to.have.length(1);
    });

    it("reads a value with an expiry as absent from its expiry on, and retention drops it", async () => {
      const store = open();
      await store.setState("node:w/seen", "id:msg_1", 1, clock + 1000);
      await store.setState("node:w/seen", "id:msg_2", 1, clock + 5000);
      await store.setState("node:w/other", "kept", true);
      clock += 999;
      expect(await store.getState("node:w/seen", "id:msg_1")).to.equal(1);
      clock += 1;
      expect(await store.getState("node:w/seen", "id:msg_1")).to.equal(undefined);
      expect(await store.getState("node:w/seen", "id:msg_2")).to.equal(1);
      expect((await store.purge()).state).to.equal(1);
      expect(rowsOf().map((r) => r.key)).to.deep.equal(["kept", "id:msg_2"]);
      expect(rowsOf()[1].expires_at).to.equal(1_005_000);
    });

    it("compare-and-set: writes only at the version read; a write in between makes it false and writes nothing", async () => {
      const store = open();
      expect(await store.getStateVersioned("global", "cp")).to.equal(undefined);
      expect(await store.setStateIf("global", "cp", null, { mark: 1 }), "absent as read").to.equal(true);
      expect(await store.setStateIf("global", "cp", null, { mark: 99 }), "no longer absent").to.equal(false);
      const first = await store.getStateVersioned("global", "cp");
      expect(first?.value).to.deep.equal({ mark: 1 });
      await store.setState("global", "cp", { mark: 2 });
      expect(await store.setStateIf("global", "cp", first!.version, { mark: 3 }), "changed since").to.equal(
        false,
      );
      expect(await store.getState("global", "cp")).to.deep.equal({ mark: 2 });
      const second = await store.getStateVersioned("global", "cp");
      expect(second!.version).to.not.equal(first!.version);
      expect(await store.setStateIf("global", "cp", second!.version, { mark: 3 })).to.equal(true);
      expect(await store.getState("global", "cp")).to.deep.equal({ mark: 3 });
      const third = await store.getStateVersioned("global", "cp");
      expect(
        await store.setStateIf("global", "cp", third!.version, undefined),
        "a delete at its version",
      ).to.equal(true);
      expect(rowsOf()).to.deep.equal([]);
    });

    it("compare-and-set: two writers that read the same version, one commit: the first wins", async () => {
      const store = open();
      await store.setState("global", "cp", "v0");
      const { version } = (await store.getStateVersioned("global", "cp"))!;
      const results = await Promise.all([
        store.setStateIf("global", "cp", version, "a"),
        store.setStateIf("global", "cp", version, "b"),
      ]);
      expect(results).to.deep.equal([true, false]);
      expect(await store.getState("global", "cp")).to.equal("a");
    });

    it("compare-and-set: an expired value is absent (version null), and the same value sealed twice has two versions", async () => {
      const plain = open();
      await plain.setState("s", "lease", "run-1", clock + 1000);
      const live = await plain.getStateVersioned("s", "lease");
      clock += 1000;
      expect(await plain.getStateVersioned("s", "lease")).to.equal(undefined);
      expect(await plain.setStateIf("s", "lease", live!.version, "late")).to.equal(false);
      expect(await plain.setStateIf("s", "lease", null, "run-2", clock + 1000)).to.equal(true);
      await plain.setState("s", "same", "x");
      const a = (await plain.getStateVersioned("s", "same"))!.version;
      await plain.setState("s", "same", "x");
      expect((await plain.getStateVersioned("s", "same"))!.version, "plain bytes equal").to.equal(a);
      await plain.close();
      const sealed = open({ encryptionKey: "correct horse battery staple" });
      await sealed.setState("s", "same", "x");
      const b = (await sealed.getStateVersioned("s", "same"))!.version;
      await sealed.setState("s", "same", "x");
      expect((await sealed.getStateVersioned("s", "same"))!.version, "a fresh nonce each write").to.not.equal(
        b,
      );
    });

    it("adds seen keys only when none of them is present: the first of two in one commit wins", async () => {
      const store = open();
      const scope = "node:w/seen";
      expect(await store.addStateIfAbsent(scope, ["id:a", "ts:1"], 1, clock + 5000)).to.equal(true);
      expect(await store.addStateIfAbsent(scope, ["id:b", "ts:1"], 1, clock + 5000), "ts:1 seen").to.equal(
        false,
      );
      expect(await store.getState(scope, "id:b"), "nothing of a refused add is written").to.equal(undefined);
      const both = await Promise.all([
        store.addStateIfAbsent(scope, ["id:c"], 1, clock + 5000),
        store.addStateIfAbsent(scope, ["id:c"], 1, clock + 5000),
      ]);
      expect(both).to.deep.equal([true, false]);
      clock += 5000;
      expect(await store.addStateIfAbsent(scope, ["id:a"], 2, clock + 5000), "expired: absent").to.equal(
        true,
      );
      expect(await store.getState(scope, "id:a")).to.equal(2);
      let caught: unknown;
      const loop: Record<string, unknown> = {};
      loop.self = loop;
      await store.addStateIfAbsent(scope, ["id:d"], loop, clock + 1).catch((err: unknown) => (caught = err));
      expect((caught as { code?: string }).code).to.equal("QUEUE_BAD_INPUT");
      await store.setStateIf(scope, "id:d", null, loop).catch((err: unknown) => (caught = err));
      expect((caught as Error).message).to.match(/^state id:d: not storable as JSON/);
    });

    it("refuses a value JSON cannot hold with QUEUE_BAD_INPUT, and writes nothing", async () => {
      const store = open();
      const loop: Record<string, unknown> = {};
      loop.self = loop;
      let caught: unknown;
      await store.setState("global", "bad", loop).catch((err: unknown) => (caught = err));
      expect((caught as { code?: string }).code).to.equal("QUEUE_BAD_INPUT");
      expect((caught as Error).message).to.match(/^state bad: not storable as JSON/);
      expect(rowsOf()).to.deep.equal([]);
    });

    it("seals state with the encryptionKey like messages", async () => {
      const store = open({ encryptionKey: "correct horse battery staple" });
      await store.setState("node:m", "dedupe", ["MSG-CONTROL-ID-4711"]);
      await store.close();
      const bytes = Buffer.concat([readFileSync(file), readFileSyncIf(`${file}-wal`)]);
      expect(bytes.includes(Buffer.from("MSG-CONTROL-ID-4711"))).to.equal(false);
      expect(
        await open({ encryptionKey: "correct horse battery staple" }).getState("node:m", "dedupe"),
      ).to.deep.equal(["MSG-CONTROL-ID-4711"]);
    });

    it("fails reads and writes on a closed store with QUEUE_STORE", async () => {
      const store = open();
      await store.close();
      const attempts: Array<Promise<unknown>> = [
        store.getState("g", "k"),
        store.setState("g", "k", 1),
        store.listQueues(),
        store.deadLetters("q"),
        store.read("q", 1),
        store.getStateVersioned("g", "k"),
        store.setStateIf("g", "k", null, 1),
        store.addStateIfAbsent("g", ["k"], 1, 1),
      ];
      for (const attempt of attempts) {
        const err = await attempt.then(
          () => undefined,
          (e: unknown) => e as { code?: string },
        );
        expect(err?.code).to.equal("QUEUE_STORE");
      }
    });
  });
});

function readFileSyncIf(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch {
    return Buffer.alloc(0);
  }
}
