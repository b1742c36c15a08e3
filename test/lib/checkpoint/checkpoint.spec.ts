import { expect } from "chai";
import { CODES } from "../../../lib/error-codes";
import {
  Checkpoints,
  MemoryCheckpointStore,
  isAfter,
  storageKey,
  type CheckpointGrant,
  type CheckpointStore,
} from "../../../lib/checkpoint";
import { serialized } from "../../../lib/checkpoint/lock";
import { generatePmsData, TIE_BOUNDARY } from "../../../sandbox/pms/data";

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}

/** A store whose every read and write yields to the event loop, as a file or network store does. */
class SlowStore implements CheckpointStore {
  readonly inner = new MemoryCheckpointStore();
  failGet = false;
  failSet = false;
  async get(key: string): Promise<unknown> {
    await new Promise((r) => setImmediate(r));
    if (this.failGet) throw new Error("disk on fire");
    return this.inner.get(key);
  }
  async set(key: string, value: unknown): Promise<void> {
    await new Promise((r) => setImmediate(r));
    if (this.failSet) throw new Error("disk full");
    return this.inner.set(key, value);
  }
}

let scopeSeq = 0;
function fresh(store: CheckpointStore = new MemoryCheckpointStore()) {
  const clock = { now: Date.parse("2025-03-01T12:00:00Z") };
  let seq = 0;
  const scope = `test-${++scopeSeq}`;
  const make = () => new Checkpoints(store, { scope, now: () => clock.now, newRunId: () => `run-${++seq}` });
  return { store, clock, cps: make(), make, scope };
}

const LEASE = { leaseSeconds: 60 };

describe("checkpoint: get, commit, release, reset", () => {
  it("starts a new checkpoint at initial, leases it, and refuses a second get while the lease is live", async () => {
    const { cps, clock } = fresh();
    const g = await cps.get("patients", { initial: "24h", leaseSeconds: 60 });
    expect(g).to.deep.equal({
      name: "patients",
      since: "2025-02-28T12:00:00.000Z",
      cursor: null,
      runId: "run-1",
      leaseExpiresAt: "2025-03-01T12:01:00.000Z",
      takenOver: false,
      initial: true,
    });
    clock.now += 59999;
    const err = await cps
      .get("patients", LEASE)
      .catch((e: unknown) => e as { code: string; details: unknown });
    expect(err).to.include({ code: "CHECKPOINT_BUSY" });
    expect((err as { details: unknown }).details).to.deep.equal({
      name: "patients",
      leaseExpiresAt: "2025-03-01T12:01:00.000Z",
    });
  });

  it("min interval: refuses a run sooner than that after the last one started, committed or released, and takes one at it", async () => {
    const { cps, clock, store } = fresh();
    const every = { leaseSeconds: 60, minIntervalSeconds: 900 };
    const g = await cps.get("patients", every);
    await cps.commit("patients", { runId: g.runId, highWater: "2025-01-06T08:00:00Z" });
    clock.now += 899_999;
    let caught: { code?: string; message?: string; details?: unknown } | undefined;
    await cps.get("patients", every).catch((err: unknown) => (caught = err as typeof caught));
    expect(caught?.code).to.equal(CODES.CHECKPOINT_BUSY);
    expect(caught?.message).to.equal(
      'checkpoint "patients" started a run at 2025-03-01T12:00:00.000Z: the next may start at 2025-03-01T12:15:00.000Z (min interval 900 s)',
    );
    expect(caught?.details).to.deep.equal({ name: "patients", nextRunAt: "2025-03-01T12:15:00.000Z" });
    expect(await codeOf(cps.get("patients", LEASE)), "no interval asked, none applied").to.equal(undefined);
    const stored = (await store.get(storageKey("patients"))) as {
      startedAt?: string;
      lease: { runId: string };
    };
    expect(stored.startedAt).to.equal("2025-03-01T12:14:59.999Z");
    await cps.release("patients", stored.lease.runId);
    clock.now += 899_999;
    expect(await codeOf(cps.get("patients", every)), "a released run counts as started").to.equal(
      CODES.CHECKPOINT_BUSY,
    );
    clock.now += 1;
    expect((await cps.get("patients", every)).since).to.equal("2025-01-06T08:00:00.000Z");
  });

  it("min interval: none asked, a run may start even when the clock has gone back behind the last start", async () => {
    const { cps, clock } = fresh();
    const g = await cps.get("patients", { leaseSeconds: 60, minIntervalSeconds: 0 });
    await cps.release("patients", g.runId);
    clock.now -= 5000;
    expect(await codeOf(cps.get("patients", { leaseSeconds: 60, minIntervalSeconds: 0 }))).to.equal(
      undefined,
    );
  });

  it("min interval: a checkpoint written before it was kept runs at once; a start that is no time is corrupt", async () => {
    const { cps, store } = fresh();
    const old = {
      v: 1,
      highWater: "2025-01-06T08:00:00.000Z",
      cursor: null,
      committedAt: "2025-03-01T11:00:00.000Z",
      committedRunId: "old",
      origin: null,
      lease: null,
    };
    await store.set(storageKey("patients"), old);
    const g = await cps.get("patients", { leaseSeconds: 60, minIntervalSeconds: 900 });
    expect(g.since).to.equal("2025-01-06T08:00:00.000Z");
    await store.set(storageKey("patients"), { ...old, startedAt: "yesterday" });
    expect(await codeOf(cps.get("patients", LEASE))).to.equal(CODES.CHECKPOINT_CORRUPT);
    let caught: { message?: string } | undefined;
    await cps
      .get("x", { leaseSeconds: 60, minIntervalSeconds: -1 })
      .catch((err: unknown) => (caught = err as typeof caught));
    expect(caught?.message).to.equal("min interval must be a number of seconds >= 0");
    for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY])
      expect(await codeOf(cps.get("x", { leaseSeconds: 60, minIntervalSeconds: bad })), String(bad)).to.equal(
        CODES.CHECKPOINT_BAD_INPUT,
      );
  });

  it("commits forward only for the run holding the lease, then releases it", async () => {
    const { cps, clock } = fresh();
    const g = await cps.get("patients", LEASE);
    expect(g.since).to.equal("1970-01-01T00:00:00.000Z");
    clock.now += 1000;
    const c = await cps.commit("patients", {
      runId: g.runId,
      highWater: "2025-01-06T08:00:00Z",
      cursor: "pat-00050",
    });
    expect(c).to.deep.equal({
      name: "patients",
      runId: "run-1",
      highWater: "2025-01-06T08:00:00.000Z",
      cursor: "pat-00050",
      committedAt: "2025-03-01T12:00:01.000Z",
      advanced: true,
    });
    expect(
      await codeOf(cps.commit("patients", { runId: g.runId, highWater: "2025-01-07T00:00:00Z" })),
    ).to.equal("CHECKPOINT_STALE_RUN");
    const g2 = await cps.get("patients", LEASE);
    expect(g2).to.include({
      since: "2025-01-06T08:00:00.000Z",
      cursor: "pat-00050",
      initial: false,
      takenOver: false,
    });

    const back = await cps.commit("patients", {
      runId: g2.runId,
      highWater: "2025-01-06T08:00:00Z",
      cursor: "pat-00049",
    });
    expect(back).to.include({ advanced: false, highWater: "2025-01-06T08:00:00.000Z", cursor: "pat-00050" });
    const g3 = await cps.get("patients", LEASE);
    expect(g3).to.include({ since: "2025-01-06T08:00:00.000Z", cursor: "pat-00050" });
    const none = await cps.commit("patients", { runId: g3.runId });
    expect(none).to.include({ advanced: false, highWater: "2025-01-06T08:00:00.000Z" });
    const state = await cps.read("patients");
    expect(state).to.include({
      lease: null,
      committedRunId: g3.runId,
      highWater: "2025-01-06T08:00:00.000Z",
    });
  });

  it("moves from (t, cursor) to (t, larger cursor) and to a later t with no cursor", async () => {
    const { cps } = fresh();
    let g = await cps.get("x", LEASE);
    await cps.commit("x", { runId: g.runId, highWater: "2025-01-06T08:00:00Z", cursor: 9 });
    g = await cps.get("x", LEASE);
    expect(g.cursor).to.equal(9);
    expect(
      await cps.commit("x", { runId: g.runId, highWater: "2025-01-06T08:00:00Z", cursor: 10 }),
    ).to.include({
      advanced: true,
      cursor: 10,
    });
    g = await cps.get("x", LEASE);
    expect(await cps.commit("x", { runId: g.runId, highWater: "2025-01-06T08:00:00Z" })).to.include({
      advanced: false,
      cursor: 10,
    });
    g = await cps.get("x", LEASE);
    expect(await cps.commit("x", { runId: g.runId, highWater: "2025-01-06T08:00:00.001Z" })).to.include({
      advanced: true,
      cursor: null,
    });
  });

  it("does not count a mark equal to the stored one as progress, by time alone or with the same cursor", async () => {
    const { cps } = fresh();
    let g = await cps.get("eq", LEASE);
    expect(await cps.commit("eq", { runId: g.runId, highWater: "2025-01-06T08:00:00Z" })).to.include({
      advanced: true,
      cursor: null,
    });
    g = await cps.get("eq", LEASE);
    // The same instant written another way is the same mark.
    expect(await cps.commit("eq", { runId: g.runId, highWater: "2025-01-06T09:00:00+01:00" })).to.include({
      advanced: false,
    });
    g = await cps.get("eq", LEASE);
    await cps.commit("eq", { runId: g.runId, highWater: "2025-01-06T08:00:00Z", cursor: 10 });
    g = await cps.get("eq", LEASE);
    expect(
      await cps.commit("eq", { runId: g.runId, highWater: "2025-01-06T08:00:00.000Z", cursor: 10 }),
    ).to.include({
      advanced: false,
      cursor: 10,
    });
    g = await cps.get("eq", LEASE);
    expect(
      await cps.commit("eq", { runId: g.runId, highWater: "2025-01-06T08:00:00Z", cursor: "10" }),
    ).to.include({
      advanced: false,
    });
  });

  it("ignores a cursor without a highWater, and a cursor left over from get with a later highWater", async () => {
    const { cps } = fresh();
    let g = await cps.get("p", LEASE);
    await cps.commit("p", { runId: g.runId, highWater: "2025-01-06T08:00:00Z", cursor: "pat-00050" });
    g = await cps.get("p", LEASE);
    expect(g.cursor).to.equal("pat-00050");
    expect(await cps.commit("p", { runId: g.runId, cursor: g.cursor })).to.include({
      advanced: false,
      cursor: "pat-00050",
    });
    g = await cps.get("p", LEASE);
    const later = await cps.commit("p", {
      runId: g.runId,
      highWater: "2025-01-06T09:00:00Z",
      cursor: g.cursor,
    });
    expect(later).to.include({ advanced: true, highWater: "2025-01-06T09:00:00.000Z", cursor: null });
    g = await cps.get("p", LEASE);
    expect(g).to.include({ since: "2025-01-06T09:00:00.000Z", cursor: null });
    await cps.commit("p", { runId: g.runId, highWater: "2025-01-06T09:00:00Z", cursor: "pat-00007" });
    g = await cps.get("p", LEASE);
    const same = await cps.commit("p", {
      runId: g.runId,
      highWater: "2025-01-06T09:00:00Z",
      cursor: "pat-00009",
    });
    expect(same).to.include({ advanced: true, cursor: "pat-00009" });
  });

  it("subtracts the overlap from the watermark and then hands out no cursor", async () => {
    const { cps } = fresh();
    let g = await cps.get("appointments", { leaseSeconds: 60, overlapSeconds: 90 });
    expect(g.since).to.equal("1970-01-01T00:00:00.000Z");
    await cps.commit("appointments", {
      runId: g.runId,
      highWater: "2025-01-06T08:00:00.123456Z",
      cursor: "a-7",
    });
    g = await cps.get("appointments", { leaseSeconds: 60, overlapSeconds: 90 });
    expect(g).to.include({ since: "2025-01-06T07:58:30.123456Z", cursor: null });
  });

  it("keeps a duration initial pinned to the first get until a commit moves the watermark", async () => {
    const { cps, clock } = fresh();
    const g1 = await cps.get("p", { initial: "1h", leaseSeconds: 60 });
    expect(g1.since).to.equal("2025-03-01T11:00:00.000Z");
    clock.now += 15 * 60000;
    const g2 = await cps.get("p", { initial: "1h", leaseSeconds: 60 });
    expect(g2).to.include({ since: "2025-03-01T11:00:00.000Z", takenOver: true, initial: true });
    await cps.commit("p", { runId: g2.runId });
    const g3 = await cps.get("p", { initial: "1h", leaseSeconds: 60 });
    expect(g3.since).to.equal("2025-03-01T11:00:00.000Z");
  });

  it("takes over an expired lease; the crashed run can then neither commit nor release", async () => {
    const { cps, clock } = fresh();
    const a = await cps.get("p", LEASE);
    clock.now += 60000;
    const b = await cps.get("p", LEASE);
    expect(b).to.include({ takenOver: true, runId: "run-2" });
    expect(await codeOf(cps.commit("p", { runId: a.runId, highWater: "2025-01-06T08:00:00Z" }))).to.equal(
      "CHECKPOINT_STALE_RUN",
    );
    expect(await codeOf(cps.release("p", a.runId))).to.equal("CHECKPOINT_STALE_RUN");
    expect((await cps.read("p"))?.lease?.runId).to.equal("run-2");
    expect(await cps.commit("p", { runId: b.runId, highWater: "2025-01-06T08:00:00Z" })).to.include({
      advanced: true,
    });
  });

  it("lets the holder commit after its lease ran out as long as no other run took over", async () => {
    const { cps, clock } = fresh();
    const a = await cps.get("p", LEASE);
    clock.now += 3600000;
    expect(await cps.commit("p", { runId: a.runId, highWater: "2025-01-06T08:00:00Z" })).to.include({
      advanced: true,
    });
  });

  it("release gives the lease up without moving the watermark", async () => {
    const { cps } = fresh();
    const a = await cps.get("p", LEASE);
    await cps.commit("p", { runId: a.runId, highWater: "2025-01-06T08:00:00Z" });
    const b = await cps.get("p", LEASE);
    expect(await cps.release("p", b.runId)).to.deep.equal({ name: "p", runId: b.runId, released: true });
    expect(await cps.release("p", b.runId)).to.deep.equal({ name: "p", runId: b.runId, released: false });
    const c = await cps.get("p", LEASE);
    expect(c).to.include({ since: "2025-01-06T08:00:00.000Z", takenOver: false });
  });

  it("reset forgets the watermark and the lease, so a run in progress cannot commit over it", async () => {
    const { cps, store } = fresh();
    const a = await cps.get("p", LEASE);
    await cps.commit("p", { runId: a.runId, highWater: "2025-01-06T08:00:00Z" });
    const b = await cps.get("p", LEASE);
    expect(await cps.reset("p")).to.deep.equal({ name: "p", existed: true });
    expect(await store.get(storageKey("p"))).to.equal(undefined);
    expect(await codeOf(cps.commit("p", { runId: b.runId, highWater: "2025-02-01T00:00:00Z" }))).to.equal(
      "CHECKPOINT_STALE_RUN",
    );
    expect((await cps.get("p", { initial: "2025-01-01T00:00:00Z", leaseSeconds: 1 })).since).to.equal(
      "2025-01-01T00:00:00.000Z",
    );
    expect(await cps.reset("never-used")).to.deep.equal({ name: "never-used", existed: false });
  });

  it("refuses bad input with CODES.CHECKPOINT_BAD_INPUT and leaves the stored state as it was", async () => {
    const { cps, store } = fresh();
    const g = await cps.get("p", LEASE);
    const before = await store.get(storageKey("p"));
    const bad: Array<Promise<unknown>> = [
      cps.commit("p", { runId: g.runId, highWater: "2025-01-06T08:00:00" }),
      cps.commit("p", { runId: g.runId, highWater: "not a time" }),
      cps.commit("p", { runId: g.runId, highWater: 1736150400000 }),
      cps.commit("p", { runId: g.runId, highWater: "2025-01-06T08:00:00Z", cursor: { id: 1 } }),
      cps.commit("p", { runId: undefined, highWater: "2025-01-06T08:00:00Z" }),
      cps.commit("p", { runId: 7, highWater: "2025-01-06T08:00:00Z" }),
      cps.commit("", { runId: g.runId }),
      cps.get("  ", LEASE),
      cps.get("a\nb", LEASE),
      cps.get("x".repeat(201), LEASE),
      cps.get("q", { leaseSeconds: 0 }),
      cps.get("q", { leaseSeconds: 60, overlapSeconds: -1 }),
      cps.get("q", { leaseSeconds: 60, initial: "last tuesday" }),
    ];
    for (const p of bad) expect(await codeOf(p)).to.equal("CHECKPOINT_BAD_INPUT");
    expect(await store.get(storageKey("p"))).to.deep.equal(before);
    expect(await store.get(storageKey("q"))).to.equal(undefined);
    expect(await codeOf(cps.commit("other", { runId: g.runId }))).to.equal("CHECKPOINT_STALE_RUN");
  });

  it("reports store failures as CODES.CHECKPOINT_STORE and a foreign value as CODES.CHECKPOINT_CORRUPT (reset clears it)", async () => {
    const slow = new SlowStore();
    const { cps } = fresh(slow);
    slow.failGet = true;
    const e1 = await cps.get("p", LEASE).catch((e: unknown) => e as Error & { code: string; cause: unknown });
    expect(e1).to.include({ code: "CHECKPOINT_STORE" });
    expect((e1 as { cause: Error }).cause.message).to.equal("disk on fire");
    slow.failGet = false;
    slow.failSet = true;
    expect(await codeOf(cps.get("p", LEASE))).to.equal("CHECKPOINT_STORE");
    slow.failSet = false;
    expect(await slow.get(storageKey("p"))).to.equal(undefined);

    for (const foreign of [42, "x", [1], { v: 2 }, { v: 1, highWater: "soon" }]) {
      await slow.set(storageKey("p"), foreign);
      expect(await codeOf(cps.get("p", LEASE)), JSON.stringify(foreign)).to.equal("CHECKPOINT_CORRUPT");
    }
    expect(await slow.get(storageKey("p"))).to.deep.equal({ v: 1, highWater: "soon" });
    expect(await cps.reset("p")).to.deep.equal({ name: "p", existed: true });
    expect((await cps.get("p", LEASE)).runId).to.be.a("string");
  });

  it("stores plain JSON under a key Node-RED will not read as a property path", async () => {
    const { cps, store } = fresh();
    const g = await cps.get("pms.patients[0] #:(file)::x", LEASE);
    await cps.commit(g.name, { runId: g.runId, highWater: "2025-01-06T08:00:00Z", cursor: 12 });
    const key = storageKey("pms.patients[0] #:(file)::x");
    expect(key).to.match(/^[A-Za-z0-9_]+$/);
    expect(storageKey("a.b")).to.not.equal(storageKey("a_b"));
    expect(storageKey("é")).to.equal("syncCheckpoint__c3_a9");
    const value = await store.get(key);
    expect(JSON.parse(JSON.stringify(value))).to.deep.equal(value);
    expect(value).to.deep.include({ v: 1, highWater: "2025-01-06T08:00:00.000Z", cursor: 12, lease: null });
  });
});

describe("checkpoint: concurrent and overlapping runs", () => {
  it("two concurrent gets on one checkpoint: exactly one run gets the lease, the other CHECKPOINT_BUSY", async () => {
    const slow = new SlowStore();
    const { make } = fresh(slow);
    for (let round = 0; round < 5; round++) {
      const name = `p${round}`;
      const results = await Promise.allSettled([
        make().get(name, LEASE),
        make().get(name, LEASE),
        make().get(name, LEASE),
      ]);
      const won = results.filter((r) => r.status === "fulfilled");
      const lost = results.filter((r) => r.status === "rejected") as PromiseRejectedResult[];
      expect(won).to.have.length(1);
      expect(lost.map((r) => (r.reason as { code: string }).code)).to.deep.equal([
        "CHECKPOINT_BUSY",
        "CHECKPOINT_BUSY",
      ]);
      const holder = (await make().read(name))?.lease?.runId;
      expect(holder).to.equal((won[0] as PromiseFulfilledResult<CheckpointGrant>).value.runId);
    }
  });

  it("is serialized per scope only: another process (another scope) on a shared store can take the lease too", async () => {
    const slow = new SlowStore();
    const a = new Checkpoints(slow, { scope: "instance-a" });
    const b = new Checkpoints(slow, { scope: "instance-b" });
    const results = await Promise.allSettled([a.get("shared", LEASE), b.get("shared", LEASE)]);
    expect(results.map((r) => r.status)).to.deep.equal(["fulfilled", "fulfilled"]);
  });

  it("a commit and a get racing on one checkpoint never interleave their read-modify-write", async () => {
    const slow = new SlowStore();
    const { make } = fresh(slow);
    const g = await make().get("p", LEASE);
    const [commit, next] = await Promise.allSettled([
      make().commit("p", { runId: g.runId, highWater: "2025-01-06T08:00:00Z" }),
      make().get("p", LEASE),
    ]);
    expect(commit.status).to.equal("fulfilled");
    expect(next.status).to.equal("fulfilled");
    expect((next as PromiseFulfilledResult<CheckpointGrant>).value.since).to.equal(
      "2025-01-06T08:00:00.000Z",
    );
  });
});

interface Rec {
  id: string;
  updatedAt: string;
}

/** A PMS list endpoint with keyset paging on (updatedAt, id), as the sandbox simulator pages. */
class Pms {
  records: Rec[];
  constructor(records: Rec[]) {
    this.records = records;
    this.sort();
  }
  sort(): void {
    this.records.sort((a, b) =>
      a.updatedAt < b.updatedAt ? -1 : a.updatedAt > b.updatedAt ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0,
    );
  }
  page(pos: { since: string; cursor: string | null }, size: number): Rec[] {
    return this.records.filter((r) => isAfter(pos, r.updatedAt, r.id)).slice(0, size);
  }
  /** What a watermark without a cursor does: strictly after the time. */
  naivePage(since: string, size: number): Rec[] {
    return this.records.filter((r) => Date.parse(r.updatedAt) > Date.parse(since)).slice(0, size);
  }
}

/** The writes a FHIR server would see (upserts by id). */
class Sink {
  writes = new Map<string, number>();
  upsert(r: Rec): void {
    this.writes.set(r.id, (this.writes.get(r.id) ?? 0) + 1);
  }
}

async function syncRun(
  cps: Checkpoints,
  pms: Pms,
  sink: Sink,
  o: { pageSize: number; maxPages: number; crashAfterPages?: number; overlapSeconds?: number },
): Promise<"done" | "crashed" | "empty"> {
  const g = await cps.get("patients", { leaseSeconds: 300, overlapSeconds: o.overlapSeconds });
  let pos = { since: g.since, cursor: g.cursor as string | null };
  let high: { since: string; cursor: string | null } | null = null;
  for (let n = 0; n < o.maxPages; n++) {
    const page = pms.page(pos, o.pageSize);
    if (page.length === 0) break;
    for (const r of page) sink.upsert(r);
    const last = page[page.length - 1];
    pos = { since: last.updatedAt, cursor: last.id };
    high = pos;
    if (o.crashAfterPages !== undefined && n + 1 >= o.crashAfterPages) return "crashed";
  }
  await cps.commit("patients", { runId: g.runId, highWater: high?.since, cursor: high?.cursor });
  return high ? "done" : "empty";
}

describe("checkpoint: incremental sync over PMS data with ties at page boundaries", () => {
  const data = generatePmsData({ seed: 7, patients: 537, appointments: 0 });
  const records = (): Rec[] => data.patients.map((p) => ({ id: p.id, updatedAt: p.updatedAt }));

  it("the data does tie across page boundaries: a watermark without a cursor loses records", () => {
    const pms = new Pms(records());
    let since = "1970-01-01T00:00:00.000Z";
    const seen = new Set<string>();
    for (let pages = 0; ; pages++) {
      if (pages > 1000) expect.fail("the naive paging never ended");
      const page = pms.naivePage(since, TIE_BOUNDARY);
      if (page.length === 0) break;
      for (const r of page) seen.add(r.id);
      since = page[page.length - 1].updatedAt;
    }
    expect(seen.size).to.be.below(pms.records.length);
  });

  it("one page per run, committed each time: every record written exactly once", async () => {
    const pms = new Pms(records());
    const sink = new Sink();
    const { cps } = fresh();
    let runs = 0;
    // Bounded: a regression that never reaches "empty" fails here instead of spinning (every await resolves at once).
    while ((await syncRun(cps, pms, sink, { pageSize: TIE_BOUNDARY, maxPages: 1 })) !== "empty") {
      if (++runs > 1000) expect.fail("the sync never ended");
    }
    expect(runs).to.equal(Math.ceil(537 / TIE_BOUNDARY));
    expect(sink.writes.size).to.equal(537);
    expect([...sink.writes.values()].every((n) => n === 1)).to.equal(true);
    const state = await cps.read("patients");
    expect(state?.highWater).to.equal(pms.records[536].updatedAt);
    expect(state?.cursor).to.equal(pms.records[536].id);
  });

  it("page sizes that cut every tie run differently: still complete, none written twice", async () => {
    for (const pageSize of [1, 3, 49, 51, 100]) {
      const pms = new Pms(records());
      const sink = new Sink();
      const { cps } = fresh();
      for (let runs = 0; (await syncRun(cps, pms, sink, { pageSize, maxPages: 3 })) !== "empty"; runs++) {
        if (runs > 1000) expect.fail(`page ${pageSize}: the sync never ended`);
      }
      expect(sink.writes.size, `page ${pageSize}`).to.equal(537);
      expect(Math.max(...sink.writes.values()), `page ${pageSize}`).to.equal(1);
    }
  });

  it("records arriving between runs at the watermark's instant with a later id are picked up", async () => {
    const pms = new Pms(records());
    const sink = new Sink();
    const { cps } = fresh();
    await syncRun(cps, pms, sink, { pageSize: 1000, maxPages: 1 });
    const last = pms.records[pms.records.length - 1];
    pms.records.push({ id: `${last.id}-late`, updatedAt: last.updatedAt });
    pms.records.push({ id: "pat-99999", updatedAt: new Date(Date.parse(last.updatedAt) + 1).toISOString() });
    pms.sort();
    expect(await syncRun(cps, pms, sink, { pageSize: 1000, maxPages: 1 })).to.equal("done");
    expect(sink.writes.size).to.equal(539);
    expect(Math.max(...sink.writes.values())).to.equal(1);
  });

  it("with an overlap, a record committed late with an earlier time is still picked up (re-reads are upserts)", async () => {
    const pms = new Pms(records());
    const sink = new Sink();
    const { cps } = fresh();
    await syncRun(cps, pms, sink, { pageSize: 1000, maxPages: 1, overlapSeconds: 120 });
    const last = pms.records[pms.records.length - 1];
    pms.records.push({
      id: "pat-00000-late",
      updatedAt: new Date(Date.parse(last.updatedAt) - 30000).toISOString(),
    });
    pms.sort();
    await syncRun(cps, pms, sink, { pageSize: 1000, maxPages: 1, overlapSeconds: 120 });
    expect(sink.writes.get("pat-00000-late")).to.equal(1);
    expect(sink.writes.size).to.equal(538);
    const state = await cps.read("patients");
    expect(state?.highWater).to.equal(last.updatedAt);
  });

  it("overlapping runs: the second is refused while the first runs; a crashed run is taken over and cannot commit late", async () => {
    const pms = new Pms(records());
    const sink = new Sink();
    const { make, clock } = fresh();
    const a = make();
    await syncRun(a, pms, sink, { pageSize: 100, maxPages: 1 });
    const gA = await a.get("patients", { leaseSeconds: 300 });
    expect(await codeOf(syncRun(make(), pms, sink, { pageSize: 100, maxPages: 10 }))).to.equal(
      "CHECKPOINT_BUSY",
    );
    const pageA = pms.page({ since: gA.since, cursor: gA.cursor as string }, 100);
    for (const r of pageA) sink.upsert(r);
    // run A crashes here: written, never committed
    clock.now += 301000;
    expect(await syncRun(make(), pms, sink, { pageSize: 100, maxPages: 100 })).to.equal("done");
    const lastA = pageA[pageA.length - 1];
    expect(
      await codeOf(a.commit("patients", { runId: gA.runId, highWater: lastA.updatedAt, cursor: lastA.id })),
    ).to.equal("CHECKPOINT_STALE_RUN");
    expect(sink.writes.size).to.equal(537);
    for (const r of pageA) expect(sink.writes.get(r.id)).to.equal(2);
    expect([...sink.writes.values()].filter((n) => n !== 1)).to.have.length(pageA.length);
    expect((await a.read("patients"))?.highWater).to.equal(pms.records[536].updatedAt);
  });
});

describe("checkpoint: names, options, stored values and holders, at their edges", () => {
  async function messageOf(p: Promise<unknown>): Promise<string> {
    try {
      await p;
    } catch (err) {
      return (err as Error).message;
    }
    return "";
  }

  it("trims names, takes 200 characters and refuses control characters, saying why", async () => {
    const { cps } = fresh();
    expect((await cps.get("  pms.patients  ", LEASE)).name).to.equal("pms.patients");
    expect((await cps.get("n".repeat(200), LEASE)).name).to.equal("n".repeat(200));
    expect(await messageOf(cps.get(" ", LEASE))).to.equal(
      "no checkpoint name: set the node's checkpoint or msg.checkpoint.name",
    );
    expect(await messageOf(cps.get(7, LEASE))).to.contain("no checkpoint name");
    expect(await messageOf(cps.get("n".repeat(201), LEASE))).to.equal(
      "checkpoint name is longer than 200 characters",
    );
    for (const c of ["\u0000", "\u001f", "\u007f"]) {
      expect(await messageOf(cps.get(`a${c}b`, LEASE)), JSON.stringify(c)).to.equal(
        "checkpoint name has control characters",
      );
    }
    expect((await cps.get("a\u0020b", LEASE)).name).to.equal("a b");
  });

  it("takes an overlap of 0 and a lease of 1 s, and names the option it refuses", async () => {
    const { cps } = fresh();
    expect((await cps.get("o", { leaseSeconds: 1, overlapSeconds: 0 })).leaseExpiresAt).to.equal(
      "2025-03-01T12:00:01.000Z",
    );
    expect(await messageOf(cps.get("p", { leaseSeconds: 0.5 }))).to.equal(
      "lease must be a number of seconds >= 1",
    );
    expect(await messageOf(cps.get("p", { leaseSeconds: 60, overlapSeconds: -0.5 }))).to.equal(
      "overlap must be a number of seconds >= 0",
    );
    for (const lease of [Infinity, NaN, "60" as unknown as number]) {
      expect(await codeOf(cps.get("p", { leaseSeconds: lease })), String(lease)).to.equal(
        "CHECKPOINT_BAD_INPUT",
      );
    }
  });

  it("takes run ids up to 200 characters and says which runId it needs", async () => {
    const { store, clock } = fresh();
    const long = "r".repeat(200);
    const cps = new Checkpoints(store, { scope: "runid-edge", now: () => clock.now, newRunId: () => long });
    const g = await cps.get("p", LEASE);
    expect((await cps.commit("p", { runId: g.runId, highWater: "2025-01-06T08:00:00Z" })).advanced).to.equal(
      true,
    );
    for (const runId of ["", "r".repeat(201)]) {
      expect(await messageOf(cps.commit("p", { runId }))).to.equal(
        "msg.checkpoint.runId must be the runId that get handed out",
      );
    }
  });

  it("refuses every field of a stored value that is not a checkpoint's, and accepts each optional form", async () => {
    const { cps, store } = fresh();
    const at = "2025-01-06T08:00:00.000Z";
    const good = {
      v: 1,
      highWater: at,
      cursor: 5,
      committedAt: at,
      committedRunId: "r",
      origin: null,
      lease: null,
    };
    const leased = { runId: "r", takenAt: at, expiresAt: at, since: at, cursor: "c" };
    const fine = [
      good,
      { ...good, highWater: null, cursor: null, committedAt: null, committedRunId: null, origin: at },
      { ...good, cursor: "abc" },
      { ...good, lease: leased },
      { ...good, lease: { runId: "r", takenAt: at, expiresAt: at } },
      { ...good, lease: { ...leased, cursor: null } },
    ];
    for (const value of fine) {
      await store.set(storageKey("s"), value);
      expect(await cps.read("s"), JSON.stringify(value)).to.deep.equal(value);
    }
    const broken = [
      { ...good, v: "1" },
      { ...good, highWater: "soon" },
      { ...good, highWater: 5 },
      { ...good, cursor: 1.5 },
      { ...good, cursor: {} },
      { ...good, cursor: undefined },
      { ...good, committedAt: "then" },
      { ...good, committedRunId: 7 },
      { ...good, origin: "start" },
      { ...good, lease: "r" },
      { ...good, lease: undefined },
      { ...good, lease: { ...leased, runId: 1 } },
      { ...good, lease: { ...leased, takenAt: "x" } },
      { ...good, lease: { ...leased, expiresAt: "x" } },
      { ...good, lease: { ...leased, since: "x" } },
      { ...good, lease: { ...leased, cursor: 0.5 } },
      [good],
    ];
    for (const value of broken) {
      await store.set(storageKey("s"), value);
      const err = await cps.read("s").catch((e: unknown) => e as Error & { code: string });
      expect((err as { code?: string }).code, JSON.stringify(value)).to.equal("CHECKPOINT_CORRUPT");
    }
    await store.set(storageKey("s"), [1]);
    expect(await messageOf(cps.read("s"))).to.equal(
      'the store holds something that is not a checkpoint under "s" (an array); reset it',
    );
    await store.set(storageKey("s"), null);
    expect(await cps.read("s")).to.equal(null);
  });

  it("says whether the store failed reading or writing, with the store's own message", async () => {
    const slow = new SlowStore();
    const { cps } = fresh(slow);
    slow.failGet = true;
    expect(await messageOf(cps.get("p", LEASE))).to.equal('could not read checkpoint "p": disk on fire');
    slow.failGet = false;
    slow.failSet = true;
    const err = await cps.get("p", LEASE).catch((e: unknown) => e as Error);
    expect((err as Error).message).to.equal('could not write checkpoint "p": disk full');
    expect(((err as Error).cause as Error).message).to.equal("disk full");
    const failing: CheckpointStore = {
      get: () => Promise.reject("plain text"),
      set: () => Promise.resolve(),
    };
    expect(await messageOf(fresh(failing).cps.get("p", LEASE))).to.equal(
      'could not read checkpoint "p": plain text',
    );
  });

  it("tells a stale run why it no longer holds the checkpoint", async () => {
    const { cps, clock } = fresh();
    const never = await messageOf(cps.commit("none", { runId: "run-x" }));
    expect(never).to.equal('run run-x no longer holds checkpoint "none": it was reset or never started');
    const g1 = await cps.get("p", LEASE);
    await cps.commit("p", { runId: g1.runId, highWater: "2025-01-06T08:00:00Z" });
    expect(await messageOf(cps.commit("p", { runId: g1.runId }))).to.equal(
      `run ${g1.runId} no longer holds checkpoint "p": this run has already committed`,
    );
    expect(await messageOf(cps.commit("p", { runId: "run-other" }))).to.equal(
      'run run-other no longer holds checkpoint "p": it is not held by any run',
    );
    const g2 = await cps.get("p", LEASE);
    clock.now += 61_000;
    const g3 = await cps.get("p", LEASE);
    expect(g3.takenOver).to.equal(true);
    expect(await messageOf(cps.commit("p", { runId: g2.runId }))).to.equal(
      `run ${g2.runId} no longer holds checkpoint "p": another run has taken it over after its lease expired`,
    );
    expect(await messageOf(cps.release("p", g2.runId))).to.contain("another run has taken it over");
    expect(await cps.release("p", g3.runId)).to.deep.equal({ name: "p", runId: g3.runId, released: true });
    expect(await cps.release("p", g3.runId)).to.deep.equal({ name: "p", runId: g3.runId, released: false });
  });

  it("is busy until the lease's last millisecond, and says until when", async () => {
    const { cps, clock } = fresh();
    const g = await cps.get("p", LEASE);
    clock.now += 59_999;
    expect(await messageOf(cps.get("p", LEASE))).to.equal(
      `checkpoint "p" is held by another run until ${g.leaseExpiresAt}`,
    );
    const busy = await cps.get("p", LEASE).catch((e: unknown) => e as { details: unknown });
    expect((busy as { details: unknown }).details).to.deep.equal({
      name: "p",
      leaseExpiresAt: g.leaseExpiresAt,
    });
    clock.now += 1;
    expect((await cps.get("p", LEASE)).takenOver).to.equal(true);
  });

  it("writes every character outside [A-Za-z0-9] of a name as _xx in the key", () => {
    expect(storageKey("09AZaz")).to.equal("syncCheckpoint_09AZaz");
    expect(storageKey("/:@[`{")).to.equal("syncCheckpoint__2f_3a_40_5b_60_7b");
    expect(storageKey("\u0001")).to.equal("syncCheckpoint__01");
  });

  it("keeps the origin until a commit moves the watermark, and hands it to every run until then", async () => {
    const { cps, store, clock } = fresh();
    const g1 = await cps.get("p", { leaseSeconds: 60, initial: "1h" });
    expect(g1.initial).to.equal(true);
    await cps.commit("p", { runId: g1.runId });
    expect(await store.get(storageKey("p"))).to.deep.include({ origin: g1.since, highWater: null });
    clock.now += 3_600_000;
    const g2 = await cps.get("p", { leaseSeconds: 60, initial: "1h" });
    expect(g2.since).to.equal(g1.since);
    const c = await cps.commit("p", { runId: g2.runId, highWater: "2025-03-01T12:30:00Z", cursor: "a" });
    expect(c).to.deep.include({ advanced: true, highWater: "2025-03-01T12:30:00.000Z", cursor: "a" });
    expect(await store.get(storageKey("p"))).to.deep.include({ origin: null });
    const g3 = await cps.get("p", LEASE);
    expect(g3).to.deep.include({
      initial: false,
      since: "2025-03-01T12:30:00.000Z",
      cursor: "a",
      takenOver: false,
    });
  });
});

describe("checkpoint: commits without a mark, releases and resets at their edges", () => {
  it("takes a null or empty highWater as nothing new, and never counts it as progress", async () => {
    const { cps } = fresh();
    for (const highWater of [null, ""]) {
      const g = await cps.get("p", LEASE);
      const c = await cps.commit("p", { runId: g.runId, highWater, cursor: "a" });
      expect(c, JSON.stringify(highWater)).to.deep.include({
        advanced: false,
        highWater: null,
        cursor: null,
      });
    }
  });

  it("release of a checkpoint never started releases nothing", async () => {
    const { cps } = fresh();
    expect(await cps.release("never", "run-x")).to.deep.equal({
      name: "never",
      runId: "run-x",
      released: false,
    });
  });

  it("reset reports a store that cannot be read instead of resetting blind", async () => {
    const slow = new SlowStore();
    const { cps } = fresh(slow);
    await cps.get("p", LEASE);
    slow.failGet = true;
    expect(await codeOf(cps.reset("p"))).to.equal(CODES.CHECKPOINT_STORE);
    slow.failGet = false;
    expect(await slow.get(storageKey("p"))).to.not.equal(undefined);
  });

  it("a stale run's error carries the name and run id", async () => {
    const { cps } = fresh();
    const err = await cps.commit("none", { runId: "run-x" }).catch((e: unknown) => e as { details: unknown });
    expect((err as { details: unknown }).details).to.deep.equal({ name: "none", runId: "run-x" });
  });

  it("refuses a stored time that is not an ISO string, even a Date a store handed back", async () => {
    const at = "2025-01-06T08:00:00.000Z";
    const value = {
      v: 1,
      highWater: new Date(at),
      cursor: null,
      committedAt: null,
      committedRunId: null,
      origin: null,
      lease: null,
    };
    const raw: CheckpointStore = { get: async () => value, set: async () => undefined };
    expect(await codeOf(fresh(raw).cps.read("p"))).to.equal("CHECKPOINT_CORRUPT");
  });

  it("checks initial even when the checkpoint already has a watermark", async () => {
    const { cps } = fresh();
    const g = await cps.get("p", LEASE);
    await cps.commit("p", { runId: g.runId, highWater: "2025-01-06T08:00:00Z" });
    expect(await codeOf(cps.get("p", { leaseSeconds: 60, initial: "last tuesday" }))).to.equal(
      "CHECKPOINT_BAD_INPUT",
    );
  });

  it("leaves no lock behind once a checkpoint's operations have settled", async () => {
    const { cps, scope } = fresh();
    const g = await cps.get("p", LEASE);
    await Promise.all([cps.read("p"), cps.commit("p", { runId: g.runId }), cps.read("p")]);
    await new Promise((r) => setImmediate(r));
    const locks = (globalThis as Record<symbol, Map<string, unknown>>)[
      Symbol.for("@healthbridge/node-red-pms-ehr/checkpoint-locks")
    ];
    expect(locks.has(`${scope}\u0000p`)).to.equal(false);
  });

  it("makes an operation started while later ones are queued wait for the last of them, after the first's clean-up", async () => {
    const key = `lock-test-${++scopeSeq}`;
    const order: string[] = [];
    const step = (name: string, ms: number) => () =>
      new Promise<void>((resolve) => setTimeout(() => (order.push(name), resolve()), ms));
    const first = serialized(key, step("1", 5));
    const second = serialized(key, step("2", 5));
    const third = serialized(key, step("3", 40));
    await first;
    await second;
    // The first two have cleaned up behind them; the third still runs and holds the key.
    await new Promise((r) => setImmediate(r));
    const fourth = serialized(key, step("4", 0));
    await Promise.all([third, fourth]);
    expect(order).to.deep.equal(["1", "2", "3", "4"]);
  });

  it("a memory store deletes a key set to undefined", async () => {
    const store = new MemoryCheckpointStore();
    await store.set("k", { a: 1 });
    await store.set("k", undefined);
    expect(store.data.has("k")).to.equal(false);
  });
});
