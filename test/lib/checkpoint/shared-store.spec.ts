import { expect } from "chai";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  Checkpoints,
  DeadLetterList,
  RunLog,
  storageKey,
  type CheckpointStore,
  type DeadLetterEntry,
  type RunEntry,
} from "../../../lib/checkpoint";
import { CODES } from "../../../lib/error-codes";
import { openSqliteStore, type SqliteMessageStore } from "../../../lib/store/sqlite";

/**
 * Two Checkpoints with different scopes do not share the in-process lock, as two Node-RED
 * instances do not: over one store, only its compare-and-set keeps their changes apart.
 */
describe("checkpoint on a store several instances share (compare-and-set)", () => {
  let dir: string;
  let db: SqliteMessageStore;
  const clock = { now: Date.parse("2025-03-01T12:00:00Z") };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "pms-ehr-cp-"));
    db = openSqliteStore({ file: join(dir, "state.db"), now: () => clock.now, purgeIntervalMs: 0 });
  });

  afterEach(async () => {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const plain = (): CheckpointStore => ({
    get: (key) => db.getState("global", key),
    set: (key, value) => db.setState("global", key, value),
  });
  const shared = (): CheckpointStore => ({
    ...plain(),
    getVersioned: (key) => db.getStateVersioned("global", key),
    setIf: (key, version, value) => db.setStateIf("global", key, version, value),
  });

  /** A shared store where another instance writes `theirs` between every read and write of this one. */
  const contested = (theirs: (value: unknown, reads: number) => unknown) => {
    let n = 0;
    const store: CheckpointStore = {
      ...shared(),
      getVersioned: async (key) => {
        n += 1;
        return db.getStateVersioned("global", key);
      },
      setIf: async (key, version, value) => {
        await db.setState("global", key, theirs(value, n));
        return db.setStateIf("global", key, version, value);
      },
    };
    return { store, reads: () => n };
  };

  let seq = 0;
  const instance = (store: CheckpointStore, scope: string) =>
    new Checkpoints(store, { scope, now: () => clock.now, newRunId: () => `${scope}-run-${++seq}` });

  async function outcome(p: Promise<unknown>): Promise<string> {
    try {
      await p;
      return "granted";
    } catch (err) {
      return (err as { code?: string }).code ?? String(err);
    }
  }

  it("without compare-and-set, two instances starting at once both get the lease (what the shared store prevents)", async () => {
    const [a, b] = [instance(plain(), "a"), instance(plain(), "b")];
    const results = await Promise.all([
      outcome(a.get("patients", { leaseSeconds: 60 })),
      outcome(b.get("patients", { leaseSeconds: 60 })),
    ]);
    expect(results).to.deep.equal(["granted", "granted"]);
  });

  it("with it, one of two instances starting at once gets the lease; the other is CHECKPOINT_BUSY until it ends", async () => {
    const [a, b] = [instance(shared(), "a"), instance(shared(), "b")];
    const results = await Promise.all([
      outcome(a.get("patients", { leaseSeconds: 60 })),
      outcome(b.get("patients", { leaseSeconds: 60 })),
    ]);
    expect([...results].sort()).to.deep.equal([CODES.CHECKPOINT_BUSY, "granted"]);
    const holder = (await a.read("patients"))?.lease?.runId ?? "";
    const [winner, loser] = holder.startsWith("a-") ? [a, b] : [b, a];
    expect(await winner.commit("patients", { runId: holder, highWater: "2025-03-01T11:00:00Z" })).to.include({
      advanced: true,
    });
    const next = await loser.get("patients", { leaseSeconds: 60 });
    expect(next.since).to.equal("2025-03-01T11:00:00.000Z");
  });

  it("a commit and a takeover in one commit, the commit first: the takeover reads again and starts at the new watermark", async () => {
    const [a, b] = [instance(shared(), "a"), instance(shared(), "b")];
    const first = await a.get("patients", { leaseSeconds: 60 });
    clock.now += 61_000;
    const [commit, takeover] = await Promise.all([
      a.commit("patients", { runId: first.runId, highWater: "2025-03-01T11:00:00Z" }),
      b.get("patients", { leaseSeconds: 60 }),
    ]);
    expect(commit.advanced).to.equal(true);
    expect(takeover).to.include({ since: "2025-03-01T11:00:00.000Z", takenOver: false });
    expect((await b.read("patients"))?.lease?.runId).to.equal(takeover.runId);
  });

  it("a takeover and a commit in one commit, the takeover first: the expired run's commit is CHECKPOINT_STALE_RUN and moves nothing", async () => {
    const [a, b] = [instance(shared(), "a"), instance(shared(), "b")];
    const first = await a.get("patients", { leaseSeconds: 60 });
    clock.now += 61_000;
    const [takeover, commit] = await Promise.all([
      b.get("patients", { leaseSeconds: 60 }),
      outcome(a.commit("patients", { runId: first.runId, highWater: "2025-03-01T11:00:00Z" })),
    ]);
    expect(commit).to.equal(CODES.CHECKPOINT_STALE_RUN);
    expect(takeover.takenOver).to.equal(true);
    const state = await b.read("patients");
    expect(state?.highWater).to.equal(null);
    expect(state?.lease?.runId).to.equal(takeover.runId);
  });

  it("gives up with CHECKPOINT_BUSY after five changes by another writer, having written nothing", async () => {
    const { store: hostile, reads } = contested((value, n) => ({
      ...(value as object),
      lease: null,
      committedRunId: `other-${n}`,
    }));
    const a = instance(hostile, "a");
    let caught: { code?: string; message?: string } | undefined;
    await a.get("patients", { leaseSeconds: 60 }).catch((err: unknown) => (caught = err as typeof caught));
    expect(caught?.code).to.equal(CODES.CHECKPOINT_BUSY);
    expect(caught?.message).to.equal(
      'checkpoint "patients" was changed by another instance 5 times while this one changed it; try again',
    );
    expect(reads()).to.equal(5);
    const stored = (await db.getState("global", storageKey("patients"))) as {
      committedRunId: string;
      lease: unknown;
    };
    expect(stored.committedRunId).to.equal("other-5");
    expect(stored.lease, "none of this instance's five leases was written").to.equal(null);
  });

  it("with a min interval, two instances on one timer run one sync per interval between them, whichever ticks first", async () => {
    const [a, b] = [instance(shared(), "a"), instance(shared(), "b")];
    const every = { leaseSeconds: 60, minIntervalSeconds: 890 };
    const ran: string[] = [];
    const tick = async (who: string, cp: Checkpoints) => {
      const outcome = await cp.get("patients", every).then(
        (g) => cp.commit("patients", { runId: g.runId }).then(() => "ran"),
        (err: { code?: string }) => err.code,
      );
      if (outcome === "ran") ran.push(who);
      else expect(outcome).to.equal(CODES.CHECKPOINT_BUSY);
    };
    const start = clock.now;
    // A's timer fires on the quarter hour, B's 5 minutes later, each a little late now and then.
    for (let interval = 0; interval < 4; interval++) {
      clock.now = start + interval * 900_000 + (interval % 2) * 3_000;
      await tick("a", a);
      clock.now = start + interval * 900_000 + 300_000;
      await tick("b", b);
    }
    expect(ran).to.deep.equal(["a", "a", "a", "a"]);
  });

  it("reset and release write through compare-and-set too", async () => {
    const a = instance(shared(), "a");
    const g = await a.get("patients", { leaseSeconds: 60 });
    expect(await a.release("patients", g.runId)).to.deep.equal({
      name: "patients",
      runId: g.runId,
      released: true,
    });
    expect((await a.read("patients"))?.lease).to.equal(null);
    expect(await a.reset("patients")).to.deep.equal({ name: "patients", existed: true });
    expect(await db.getState("global", storageKey("patients"))).to.equal(undefined);
    await db.setState("global", storageKey("patients"), "not a checkpoint");
    expect(await a.reset("patients"), "a corrupt value is reset").to.deep.equal({
      name: "patients",
      existed: true,
    });
    expect(await a.reset("patients")).to.deep.equal({ name: "patients", existed: false });
  });

  describe("the run log and the dead-letter list", () => {
    const runLog = (store: CheckpointStore, scope: string) =>
      new RunLog(store, { key: "runs", size: 50, countName: "total", scope, now: () => clock.now });
    const deadLetters = (store: CheckpointStore, scope: string) =>
      new DeadLetterList(store, { key: "dead", max: 50, scope, now: () => clock.now });
    const refusal = (id: string) => ({ id, code: "MAP_TRANSFORM", message: `record ${id}` });

    it("without compare-and-set, runs two instances log at once overwrite each other (what the shared store prevents)", async () => {
      const [a, b] = [runLog(plain(), "a"), runLog(plain(), "b")];
      await Promise.all([a.append({ run: { total: 1 } }), b.append({ run: { total: 2 } })]);
      expect(await db.getState("global", "runs")).to.have.length(1);
    });

    it("with it, every instance's run is kept, numbered in the order the writes landed", async () => {
      const logs = ["a", "b", "c", "d"].map((scope) => runLog(shared(), scope));
      const entries = await Promise.all(logs.map((log, i) => log.append({ run: { total: i + 1 } })));
      const kept = (await db.getState("global", "runs")) as RunEntry[];
      expect(kept.map((e) => e.seq)).to.deep.equal([1, 2, 3, 4]);
      expect(kept.map((e) => e.total).sort()).to.deep.equal([1, 2, 3, 4]);
      expect(entries.map((e) => e.seq).sort()).to.deep.equal([1, 2, 3, 4]);
      for (const e of entries) expect(kept.find((k) => k.seq === e.seq)).to.deep.equal(e);
    });

    it("keeps both instances' dead letters, and a record one instance wrote leaves the list the other made", async () => {
      const [a, b] = [deadLetters(shared(), "a"), deadLetters(shared(), "b")];
      await Promise.all([
        a.update("patients", "run-a", { written: [], refused: [refusal("p1")] }),
        b.update("appointments", "run-b", { written: [], refused: [refusal("a1")] }),
      ]);
      let kept = (await db.getState("global", "dead")) as DeadLetterEntry[];
      expect(kept.map((d) => `${d.entity}/${d.id}`).sort()).to.deep.equal(["appointments/a1", "patients/p1"]);
      expect(await b.update("patients", "run-b2", { written: ["p1"], refused: [] })).to.equal(1);
      kept = (await db.getState("global", "dead")) as DeadLetterEntry[];
      expect(kept.map((d) => `${d.entity}/${d.id}`)).to.deep.equal(["appointments/a1"]);
    });

    it("writes nothing when nothing changes, and names what it could not read or write (CHECKPOINT_STORE)", async () => {
      const list = deadLetters(shared(), "a");
      await list.update("patients", "run-a", { written: [], refused: [refusal("p1")] });
      const before = await db.getStateVersioned("global", "dead");
      expect(await list.update("patients", "run-b", { written: ["p9"], refused: [] })).to.equal(1);
      expect(await db.getStateVersioned("global", "dead"), "not written again").to.deep.equal(before);
      const failing = (which: "read" | "write"): CheckpointStore => ({
        ...shared(),
        getVersioned: (key) =>
          which === "read" ? Promise.reject(new Error("disk on fire")) : db.getStateVersioned("global", key),
        setIf: () => Promise.reject(new Error("disk full")),
      });
      for (const which of ["read", "write"] as const) {
        let caught: { code?: string; message?: string } | undefined;
        await runLog(failing(which), "a")
          .append({ run: { total: 1 } })
          .catch((err: unknown) => (caught = err as typeof caught));
        expect(caught?.code, which).to.equal(CODES.CHECKPOINT_STORE);
        expect(caught?.message, which).to.equal(`could not ${which} the run log "runs"`);
      }
    });

    it("gives up with CHECKPOINT_BUSY after five changes by another writer, having written nothing of its own", async () => {
      const { store: hostile, reads } = contested((_value, n) => [
        { seq: 100 + n, at: "x", outcome: "ok", total: 0 },
      ]);
      let caught: { code?: string; message?: string; details?: unknown } | undefined;
      await runLog(hostile, "a")
        .append({ run: { total: 7 } })
        .catch((err: unknown) => (caught = err as typeof caught));
      expect(caught?.code).to.equal(CODES.CHECKPOINT_BUSY);
      expect(caught?.message).to.equal(
        'the run log "runs" was changed by another instance 5 times while this one changed it; try again',
      );
      expect(caught?.details).to.deep.equal({ key: "runs" });
      expect(reads()).to.equal(5);
      expect(await db.getState("global", "runs")).to.deep.equal([
        { seq: 105, at: "x", outcome: "ok", total: 0 },
      ]);
    });
  });
});
